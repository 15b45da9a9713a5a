package recovery

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cantonx/txhistory/schema"
)

// Defaults of Options.
const (
	// TimeoutDefault bounds the wait for a restored participant to process
	// tRecovery. Recovering a backup that is days old from the synchronizer
	// can take a while; raise it for old backups.
	TimeoutDefault = time.Hour
	// PollIntervalDefault is how often Plan asks again while it waits.
	PollIntervalDefault = 2 * time.Second
)

// Mode is the variant of the runbook's step 5. It is stored in the audit row
// of the rewind.
type Mode string

const (
	// ModeUnique looks up offRecovery as of tRecovery, as the runbook does
	// when record times are unique. Ingestion resumes right after the last
	// ingested transaction. Plan refuses this mode (ErrRecordTimeNotUnique)
	// when the participant shows that transactions after the last ingested
	// one share its record time: resuming after the highest offset at
	// tRecovery would skip them.
	ModeUnique Mode = "unique"
	// ModeNonUnique looks up offRecovery as of tRecovery − 1µs, the runbook's
	// variant for participants whose history was changed locally (ACS import,
	// party migration or replication, repair commands). Ingestion resumes
	// before the first transaction at tRecovery; the ones already ingested
	// are dropped by update-id dedup (package dedup), which txhistory always
	// runs. It is the default because it is correct whether or not record
	// times are unique, at the price of reading the transactions at
	// tRecovery again.
	ModeNonUnique Mode = "non-unique"
)

// ParseMode parses "unique" or "non-unique".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeUnique, ModeNonUnique:
		return Mode(s), nil
	}
	return "", fmt.Errorf("recovery: unknown mode %q (want %q or %q)", s, ModeUnique, ModeNonUnique)
}

// AdminAPI is the behaviour of the participant's admin API
// GetHighestOffsetByTimestamp, which changed in Canton 3.5.
type AdminAPI int

const (
	// AdminAuto (the default) tells the behaviour from the participant's
	// error ids. Plan works with either; when the first look-up succeeds the
	// behaviour stays unknown, which does not matter (see Plan).
	AdminAuto AdminAPI = iota
	// Admin34 is Canton 3.4 and earlier: the answer is the highest offset
	// with record time ≤ the timestamp, and every failure is OUT_OF_RANGE
	// INVALID_TIMESTAMP_PARTY_MANAGEMENT_ERROR, so "not processed yet" cannot
	// be told from other failures. There is no force flag; Plan never sends it.
	Admin34
	// Admin35 is Canton 3.5 and later: UNPROCESSED_REQUESTED_TIMESTAMP for a
	// timestamp not processed yet, EXACT_RECORD_TIME_MATCH_NOT_FOUND without
	// force when no transaction has exactly that record time, and force
	// answering the highest offset at or before it — or the ledger end for a
	// timestamp at or past what the participant has processed.
	Admin35
)

func (a AdminAPI) String() string {
	switch a {
	case AdminAuto:
		return "auto"
	case Admin34:
		return "3.4"
	case Admin35:
		return "3.5+"
	}
	return fmt.Sprintf("AdminAPI(%d)", int(a))
}

// label names the admin API for an operator.
func (a AdminAPI) label() string {
	if a == AdminAuto {
		return "admin API"
	}
	return "admin API " + a.String()
}

// ParseAdminAPI parses "auto", "3.4" or "3.5".
func ParseAdminAPI(s string) (AdminAPI, error) {
	switch s {
	case "", "auto":
		return AdminAuto, nil
	case "3.4":
		return Admin34, nil
	case "3.5", "3.5+":
		return Admin35, nil
	}
	return 0, fmt.Errorf("recovery: unknown admin API behaviour %q (want auto, 3.4 or 3.5)", s)
}

// Progress reports one round of waiting for the participant to process
// tRecovery.
type Progress struct {
	// Attempt counts the look-ups so far, from 1.
	Attempt int
	// Waited is the time since Plan began waiting.
	Waited time.Duration
	// LedgerEnd is the participant's ledger end now, or -1 if it could not be read.
	LedgerEnd int64
	// Reason is why the participant does not count as caught up yet: its
	// answer to the look-up of tRecovery, or to the look-up of the last
	// ingested update.
	Reason error
}

// Options configure Plan. Zero fields take the documented defaults.
type Options struct {
	// Schema holding the txhistory tables. Default schema.DefaultName.
	Schema string
	// Parties are the parties ingestion reads (the treasury party). Required:
	// Plan looks the last ingested transaction up by update id with this
	// filter, to see that the participant has recovered it and where.
	// Plan refuses parties other than those the Integration DB recorded
	// with its checkpoint, if it recorded any (ErrPartiesDiffer).
	Parties []string
	// Mode is the runbook variant. Default ModeNonUnique.
	Mode Mode
	// AdminAPI is the admin API behaviour. Default AdminAuto.
	AdminAPI AdminAPI
	// Timeout bounds the wait for the participant to process tRecovery,
	// and, once more, all that follows it together: the look-ups, the
	// read of the synchronizers the
	// participant reports (its next OffsetCheckpoint: about a minute on a
	// quiet ledger, so give it more), and, for synchronizers the
	// Integration DB never saw or knows from OffsetCheckpoints alone, the
	// read of the treasury's transactions
	// from the participant's pruning offset up to offRecovery (a read of
	// its whole history on an unpruned participant: give a long history
	// more): a call the participant does not answer is given up on at
	// most a few seconds past it. Runbook bounds its step 4 (Packages) by
	// it as well. Default TimeoutDefault (one hour).
	Timeout time.Duration
	// PollInterval is the pause between look-ups while waiting. Default
	// PollIntervalDefault (two seconds). Negative, as Timeout: refused.
	PollInterval time.Duration
	// Progress, if set, is called after every look-up that finds the
	// participant not caught up yet, from Plan's goroutine.
	Progress func(Progress)
	// Logger receives the same progress at Info level. Default slog.Default().
	Logger *slog.Logger
	// Note is added to the audit row of the rewind (who, ticket, ...),
	// after the runbook's own account of it. Default empty: the account only.
	Note string
}

// WithDefaults returns a copy of o with empty (zero) fields filled. A
// negative Timeout or PollInterval is kept: Plan and Runbook refuse it.
func (o Options) WithDefaults() Options {
	if o.Schema == "" {
		o.Schema = schema.DefaultName
	}
	if o.Mode == "" {
		o.Mode = ModeNonUnique
	}
	if o.Timeout == 0 {
		o.Timeout = TimeoutDefault
	}
	if o.PollInterval == 0 {
		o.PollInterval = PollIntervalDefault
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (o Options) validate() error {
	if err := schema.ValidateName(o.Schema); err != nil {
		return err
	}
	if _, err := ParseMode(string(o.Mode)); err != nil {
		return err
	}
	if o.Timeout < 0 {
		return fmt.Errorf("recovery: Options.Timeout is negative (%v): zero gives the default", o.Timeout)
	}
	if o.PollInterval < 0 {
		return fmt.Errorf("recovery: Options.PollInterval is negative (%v): zero gives the default", o.PollInterval)
	}
	if o.AdminAPI < AdminAuto || o.AdminAPI > Admin35 {
		return fmt.Errorf("recovery: unknown admin API behaviour %d", int(o.AdminAPI))
	}
	if len(o.Parties) == 0 {
		return errors.New("recovery: Options.Parties is empty: name the party ingestion reads (the treasury party)")
	}
	for _, p := range o.Parties {
		if p == "" {
			return errors.New("recovery: Options.Parties holds an empty party id")
		}
	}
	return nil
}
