package sink

// EventHash is eventHash, for tests that write claims as a killed sink would.
var EventHash = eventHash

// EventHash2 is eventHash2, likewise.
var EventHash2 = eventHash2
