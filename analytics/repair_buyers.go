package analytics

import (
	"context"
	"fmt"
	"time"
)

// buyerMinutes is campaign_buyers as one row per shopper and order minute,
// for RepairRollups to compare with the raw orders: a shopper counts once
// per minute however many of their rows (parts not merged yet) name it.
const buyerMinutes = `(
    SELECT campaign_id, currency, user_id, m AS minute
    FROM ` + buyersTable + `
    ARRAY JOIN ordersMap.minute AS m
)`

// fixBuyers adds to campaign_buyers a row for each shopper with an order
// in fix's campaign, currency and minute that campaign_buyers does not
// show in that minute, with their orders of the minute.
func fixBuyers(ctx context.Context, c *Conn, s rollupSpec, fix RollupFix) error {
	minute := fix.Minute.Unix() // seconds: independent of the server's time zone
	campaign, currency := fix.Key[0], fix.Key[1]
	q := `INSERT INTO ` + buyersTable + ` (campaign_id, currency, user_id, ` + "`ordersMap.minute`, `ordersMap.orders`" + `)
SELECT
    campaign_id,
    currency,
    user_id,
    tupleElement(sumMap([toStartOfMinute(created_at)], [toUInt64(1)]), 1),
    tupleElement(sumMap([toStartOfMinute(created_at)], [toUInt64(1)]), 2)
FROM ` + s.raw + `
WHERE campaign_id = ? AND currency = ? AND toStartOfMinute(created_at) = toDateTime(?)
    AND user_id GLOBAL NOT IN
    (
        SELECT user_id FROM ` + buyerMinutes + `
        WHERE campaign_id = ? AND currency = ? AND minute = toDateTime(?)
    )
GROUP BY campaign_id, currency, user_id`
	ictx, err := c.insertContext(ctx)
	if err != nil {
		return err
	}
	if err := c.db.Exec(ictx, q, campaign, currency, minute, campaign, currency, minute); err != nil {
		return fmt.Errorf("add the missing shoppers of %s %v at %s: %w", s.rollup, fix.Key, fix.Minute.Format(time.RFC3339), err)
	}
	return nil
}
