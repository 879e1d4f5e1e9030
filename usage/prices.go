package usage

// PriceList is what Cloudflare charges for Durable Objects (SQLite storage
// backend, Workers Paid plan), in US dollars, and what each month includes.
type PriceList struct {
	Date   string `json:"date"`   // when the prices were read
	Source string `json:"source"` // where
	Plan   string `json:"plan"`

	PerMillionRequests    float64 `json:"per_million_requests"`
	PerMillionGBSeconds   float64 `json:"per_million_gb_s"`
	PerMillionRowsRead    float64 `json:"per_million_rows_read"`
	PerMillionRowsWritten float64 `json:"per_million_rows_written"`
	PerGBMonth            float64 `json:"per_gb_month"`
	MonthlyMinimum        float64 `json:"monthly_minimum"`

	IncludedRequests    float64 `json:"included_requests_per_month"`
	IncludedGBSeconds   float64 `json:"included_gb_s_per_month"`
	IncludedRowsRead    float64 `json:"included_rows_read_per_month"`
	IncludedRowsWritten float64 `json:"included_rows_written_per_month"`
	IncludedGBMonths    float64 `json:"included_gb_months"`
}

// Prices are Cloudflare's list prices for Durable Objects as published on
// https://developers.cloudflare.com/durable-objects/platform/pricing/ and
// read on 2026-10-01. docs/OPERATIONS.md shows the same table; change both
// together.
//
//	requests        $0.15 per million      (1 M a month included)
//	duration        $12.50 per million GB-s (400,000 GB-s a month included)
//	rows read       $0.001 per million     (25 billion a month included)
//	rows written    $1.00 per million      (50 M a month included)
//	stored data     $0.20 per GB-month     (5 GB-month included)
//	Workers Paid    $5 a month minimum
//
// Billing units: an incoming WebSocket message is 1/20 of a request;
// duration is wall time × 128 MB (GB-s = seconds × 0.128); GB is 10^9
// bytes; a month is 730 hours.
var Prices = PriceList{
	Date:   "2026-10-01",
	Source: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
	Plan:   "Workers Paid, SQLite storage backend",

	PerMillionRequests:    0.15,
	PerMillionGBSeconds:   12.50,
	PerMillionRowsRead:    0.001,
	PerMillionRowsWritten: 1.00,
	PerGBMonth:            0.20,
	MonthlyMinimum:        5.00,

	IncludedRequests:    1e6,
	IncludedGBSeconds:   400_000,
	IncludedRowsRead:    25e9,
	IncludedRowsWritten: 50e6,
	IncludedGBMonths:    5,
}

// Billing constants.
const (
	GBPerInstance       = 0.128 // duration is billed at 128 MB whatever an object uses
	MessagesPerRequest  = 20    // incoming WebSocket messages per billed request
	HoursPerMonth       = 730   // for GB-months
	BytesPerGB          = 1e9
	nanosPerSecond      = 1e9
	secondsPerHour      = 3600
	hoursPerMonthFloat  = float64(HoursPerMonth)
	messagesPerRequestF = float64(MessagesPerRequest)
)

// Bill is the estimated cost of some usage at list prices, in US dollars,
// before the monthly included amounts and minimum (a report's period is
// rarely a month: compare with PriceList's Included fields).
type Bill struct {
	Requests    float64 `json:"requests"`
	Duration    float64 `json:"duration"`
	RowsRead    float64 `json:"rows_read"`
	RowsWritten float64 `json:"rows_written"`
	Storage     float64 `json:"storage"`
	Total       float64 `json:"total"`
	// HibernationSaved is what the time objects spent hibernated, with
	// sockets connected, would have cost as duration had they stayed in
	// memory.
	HibernationSaved float64 `json:"hibernation_saved"`
}

// Price returns the bill for u at p.
func (p PriceList) Price(u Usage) Bill {
	b := Bill{
		Requests:         u.Requests / 1e6 * p.PerMillionRequests,
		Duration:         u.DurationGBs / 1e6 * p.PerMillionGBSeconds,
		RowsRead:         float64(u.RowsRead) / 1e6 * p.PerMillionRowsRead,
		RowsWritten:      float64(u.RowsWritten) / 1e6 * p.PerMillionRowsWritten,
		Storage:          u.StoredGBMonths * p.PerGBMonth,
		HibernationSaved: u.HibernatedGBs / 1e6 * p.PerMillionGBSeconds,
	}
	b.Total = b.Requests + b.Duration + b.RowsRead + b.RowsWritten + b.Storage
	return b
}
