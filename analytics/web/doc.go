// Package web serves surge's live campaign page and its JSON API: a
// read-only page that analysts keep open through a peak, and that surge
// serves itself (surge ui, and surge up while it runs).
//
//	srv, err := web.New(conn, web.WithPipeline(probe), web.WithBudgets(budgets...))
//	ln, err := srv.Listen("127.0.0.1:8070")
//	err = srv.Serve(ctx, ln) // until ctx is done
//
// # What it shows
//
// Per campaign the numbers of the campaign-summary report (orders, GMV,
// buyers, average order value, coupons issued and redeemed), GMV and orders
// per minute as charts, the funnel (page views → add to cart → checkout →
// order, from the funnel-events report), the coupons issued per rule with
// the share of the rule's budget used, and the pipeline's health (events/s
// in, sink freshness, consumer-group lag in records and seconds with its
// status, dead letters) when a Pipeline probe is given. A campaign and a
// time range are picked on the page and kept in its URL
// (/?campaign=black-friday&from=3h), so a link shows the same view.
//
// # Live
//
// The page holds one Server-Sent Events stream (GET /api/live) and gets a
// snapshot every interval (WithInterval, default 1s). One loop makes a
// round of snapshots per interval, one per distinct view (campaign, from,
// to) that at least one page shows, one view after the other, so twenty
// pages on the same view cost ClickHouse what one costs. The views of a
// round share the answers of their queries: the campaign list, and a
// report asked with the same campaign over the same minutes (from and to
// rounded up to the minute, which the rollup reports cannot tell apart),
// run once per round. The pipeline probe runs at most every 2 s (or every
// interval, if longer), for all views at once. A round slower than half
// the interval stretches the interval (the loop waits as long as the round
// took), so the page never keeps ClickHouse busy more than half the time.
// For campaign-summary's buyers, give the server a Conn made with
// analytics.Conn.KeepBuyersParts, as surge ui does.
//
// # API
//
// GET /api/reports lists the reports the API serves; GET
// /api/reports/{name}?campaign=&from=&to= answers exactly what `surge
// report NAME --output json` prints for the same filters (the same
// functions build it). Only the reports that read the per-minute rollups are
// served (analytics.RollupReportNames), so every query of the page and the
// API costs milliseconds however many raw events there are. Filters are
// bound as query parameters, never spliced into SQL; an unknown parameter,
// a bad time or a campaign longer than analytics.MaxCampaignLen is a 400.
// GET /api/snapshot returns one snapshot, the JSON the stream sends.
//
// # Safe by default
//
// Nothing the server does writes: every route is GET (or HEAD); other
// methods get 405. Listen accepts only a loopback address unless an
// authorizer is set (WithAuth): surge ui checks API keys of the gateway's
// keys file that hold the reports:read scope, sent as HTTP Basic
// credentials (any user name, the key as password: a browser asks for it
// once and sends it on the event stream too), "Authorization: Bearer KEY" or
// "X-API-Key: KEY". Without an authorizer the server also refuses requests
// whose Host is not a loopback name, so a web site cannot read it through
// DNS rebinding. Every answer carries a Content-Security-Policy without
// inline scripts or styles and with frame-ancestors 'none', X-Frame-Options
// DENY, X-Content-Type-Options nosniff and Referrer-Policy no-referrer. The
// page's scripts, styles and icon are embedded in the binary: nothing is
// fetched from a CDN.
package web
