package sink

// EventHash is eventHash, for tests that write claims as a killed sink would.
var EventHash = eventHash
