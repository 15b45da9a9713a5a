package recovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cantonx/txhistory/checkpoint"
	"github.com/cantonx/txhistory/dedup"
	"github.com/cantonx/txhistory/internal/ctxerr"
	"github.com/cantonx/txhistory/internal/nilcheck"
	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/schema"
	"github.com/jmoiron/sqlx"
)

// PackagesConcurrencyDefault is how many look-ups by update id Packages runs
// at once by default.
const PackagesConcurrencyDefault = 8

// PackageOptions configure Packages.
type PackageOptions struct {
	// Schema holding the txhistory tables. Default schema.DefaultName.
	Schema string
	// Parties ingestion reads (the treasury party). Required.
	Parties []string
	// Concurrency bounds the parallel look-ups. Default PackagesConcurrencyDefault.
	Concurrency int
}

// PackageUse is one Daml package seen in the transactions of a report.
type PackageUse struct {
	// PackageID as the participant reports it in template and interface ids.
	PackageID string
	// PackageName is the events' package name, when the participant sent one.
	PackageName string
	// Templates are the templates and interfaces of the package that
	// occurred, as "Module:Entity", sorted.
	Templates []string
	// FirstSeen and LastSeen are the record times of the first and last
	// transaction using the package.
	FirstSeen, LastSeen time.Time
	// Transactions counts the transactions using the package.
	Transactions int
}

// PackageReport lists the packages of the transactions ingested since a time.
type PackageReport struct {
	Since time.Time
	// Transactions is how many ingested transactions have a record time at
	// or after Since (per the dedup table).
	Transactions int
	// Packages in order of first use.
	Packages []PackageUse
	// Missing are update ids the participant did not return (not recovered
	// yet, pruned, or not visible to Parties): their packages are unknown.
	Missing []string
	// IngestedUntil is the latest record time the Integration DB has
	// ingested (its checkpoint's, over every synchronizer); zero if
	// nothing. Transactions after it are not in the Integration DB and
	// their packages are not listed: after an Integration DB restore, that
	// is everything since its backup.
	IngestedUntil time.Time
}

// Coverage says how far the listing goes: up to the record time the
// Integration DB has ingested, and that packages used only after it are
// not listed.
func (r *PackageReport) Coverage() string {
	if r.IngestedUntil.IsZero() {
		return "the Integration DB has ingested nothing: packages used since are not listed."
	}
	s := fmt.Sprintf("the Integration DB has ingested up to record time %s: packages used only after it are not listed", r.IngestedUntil.Format(time.RFC3339Nano))
	if r.IngestedUntil.Before(r.Since) {
		s += fmt.Sprintf(", and it has ingested nothing since %s", r.Since.Format(time.RFC3339Nano))
	}
	return s + " (after an Integration DB restore, list them against it before the restore, or from the record of .dar uploads)."
}

// Packages helps with step 4 of the runbook, "re-upload all .dar files that
// were uploaded after the backup": it lists the Daml packages used by the
// transactions that ingestion took in at or after since (give the time of
// the backup). A package uploaded after the backup and used since is among
// them; upload again the .dar files that hold the ones the restored
// participant no longer has.
//
// The Integration DB keeps the update ids and record times of ingested
// transactions (package dedup), not their templates, so Packages looks each
// transaction up by update id on the participant (GetUpdateById with the
// Parties filter) and collects the package ids of the template and
// interface ids of its events (retrying a look-up that fails with a
// retryable error a few times). Run it against the participant before it is
// restored (runbook step 2), when it still serves every transaction, or
// against the restored one after it has caught up; transactions it does not
// return are listed in Missing. Only what the Integration DB has ingested
// is listed (up to IngestedUntil): an Integration DB restored from a
// backup lists nothing after its backup; list the packages before that
// restore, or from the record of .dar uploads. Update ids dropped from the
// dedup table by retention (dedup.Store.PruneBefore) are not seen. Of each
// transaction it keeps only the template and interface ids its events use,
// so memory grows with the number of transactions since, not with their
// size. The look-ups run in goroutines of its own
// (PackageOptions.Concurrency): a panic of p's UpdateByID reaches the
// caller of Packages, once every look-up has returned.
func Packages(ctx context.Context, db sqlx.QueryerContext, p Participant, since time.Time, opts PackageOptions) (_ *PackageReport, err error) {
	defer func() { err = ctxerr.Wrap(ctx, err) }()
	if opts.Schema == "" {
		opts.Schema = schema.DefaultName
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = PackagesConcurrencyDefault
	}
	if len(opts.Parties) == 0 {
		return nil, errors.New("recovery: PackageOptions.Parties is empty: name the party ingestion reads")
	}
	if db == nil || p == nil || nilcheck.Holds(db) || nilcheck.Holds(p) {
		return nil, errors.New("recovery: nil database or participant")
	}
	dd, err := dedup.NewStore(opts.Schema)
	if err != nil {
		return nil, err
	}
	cps, err := checkpoint.NewStore(opts.Schema)
	if err != nil {
		return nil, err
	}
	cp, _, err := cps.Get(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	ingested, err := dd.Since(ctx, db, since)
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	report := &PackageReport{Since: since, Transactions: len(ingested), IngestedUntil: cp.MaxRecordTime()}
	// Only the package references of each transaction are kept, not the
	// transaction: memory grows with the ingested ids, not their events.
	refs := make([][]packageRef, len(ingested))
	errs := make([]error, len(ingested))
	// No interface filter: a restored participant refuses a filter naming
	// an interface whose package it lacks (uploaded after the backup),
	// which is what this step is to find. So the views (and implemented
	// interfaces) are not sent; an interface package shows through the
	// exercises by interface, and the .dar of a template implementing it
	// holds it anyway.
	filter := ledger.Filter{Parties: opts.Parties, Interfaces: []ledger.Identifier{}}

	// The look-ups' context, cancelled at the first that fails: one of
	// their own, not ctx reassigned, whose end the error says
	// (ctxerr.Wrap, deferred).
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	// The Participant may be the exchange's code (a wrapper of a
	// *ledger.Client), and the look-ups run in goroutines of their own,
	// where a panic would end the process: the first is re-raised in the
	// caller's goroutine once every look-up has returned, as a sequential
	// call's would reach it. One that ends its goroutine with
	// runtime.Goexit (t.FailNow in a test's) fails Packages.
	var panicked any
	for range min(opts.Concurrency, max(len(ingested), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			returned := false
			defer func() {
				if returned {
					return
				}
				r := recover()
				mu.Lock()
				if r != nil && panicked == nil {
					panicked = r
				} else if r == nil && firstErr == nil {
					firstErr = errors.New("recovery: a look-up by update id called runtime.Goexit (t.FailNow, or testify's require, in the Participant?)")
				}
				mu.Unlock()
				cancel()
			}()
			for i := range next {
				var tx *ledger.Transaction
				tx, errs[i] = updateByIDRetrying(lctx, p, ingested[i].UpdateID, filter)
				if errs[i] == nil {
					refs[i] = packageRefs(tx)
				}
				if errs[i] != nil && !errors.Is(errs[i], ledger.ErrNotFound) {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("recovery: look up update %s: %w", ingested[i].UpdateID, errs[i])
					}
					mu.Unlock()
					cancel()
				}
			}
			returned = true
		}()
	}
feed:
	for i := range ingested {
		select {
		case next <- i:
		case <-lctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if err := lctx.Err(); err != nil {
		return nil, err
	}

	byID := map[string]*PackageUse{}
	templates := map[string]map[string]bool{}
	for i, in := range ingested {
		if errs[i] != nil { // only ErrNotFound is left
			report.Missing = append(report.Missing, in.UpdateID)
			continue
		}
		seen := map[string]bool{}
		use := func(id ledger.Identifier, name string) {
			if id.PackageID == "" {
				return
			}
			u := byID[id.PackageID]
			if u == nil {
				u = &PackageUse{PackageID: id.PackageID, FirstSeen: in.RecordTime}
				byID[id.PackageID] = u
				templates[id.PackageID] = map[string]bool{}
			}
			if u.PackageName == "" && name != "" {
				u.PackageName = name
			}
			templates[id.PackageID][id.ModuleName+":"+id.EntityName] = true
			if !seen[id.PackageID] {
				seen[id.PackageID] = true
				u.Transactions++
				u.FirstSeen = minTime(u.FirstSeen, in.RecordTime)
				u.LastSeen = maxTime(u.LastSeen, in.RecordTime)
			}
		}
		for _, r := range refs[i] {
			use(r.id, r.name)
		}
	}
	for id, u := range byID {
		for t := range templates[id] {
			u.Templates = append(u.Templates, t)
		}
		slices.Sort(u.Templates)
		report.Packages = append(report.Packages, *u)
	}
	slices.SortFunc(report.Packages, func(a, b PackageUse) int {
		return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.PackageID, b.PackageID))
	})
	return report, nil
}

// packageRef is a template or interface id a transaction's events use,
// with the events' package name (or "").
type packageRef struct {
	id   ledger.Identifier
	name string
}

// packageRefs returns the distinct template and interface ids of tx's
// events, in order of first occurrence.
func packageRefs(tx *ledger.Transaction) []packageRef {
	var out []packageRef
	seen := map[packageRef]bool{}
	use := func(id ledger.Identifier, name string) {
		if r := (packageRef{id, name}); !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, ev := range tx.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			use(e.TemplateID, e.PackageName)
			for _, v := range e.InterfaceViews {
				use(v.InterfaceID, "")
			}
		case *ledger.ArchivedEvent:
			use(e.TemplateID, e.PackageName)
			for _, id := range e.ImplementedInterfaces {
				use(id, "")
			}
		case *ledger.ExercisedEvent:
			use(e.TemplateID, e.PackageName)
			if e.InterfaceID != nil {
				use(*e.InterfaceID, "")
			}
			for _, id := range e.ImplementedInterfaces {
				use(id, "")
			}
		}
	}
	return out
}

// packagesAttempts bounds the attempts of one look-up by update id that
// fails with a retryable error (the participant restarting or busy
// catching up); the pause between them doubles from packagesBackoff.
const (
	packagesAttempts = 6
	packagesBackoff  = 100 * time.Millisecond
)

// updateByIDRetrying is p.UpdateByID, retried on retryable errors.
func updateByIDRetrying(ctx context.Context, p Participant, updateID string, f ledger.Filter) (*ledger.Transaction, error) {
	pause := packagesBackoff
	for attempt := 1; ; attempt++ {
		tx, err := p.UpdateByID(ctx, updateID, f)
		if err == nil || attempt >= packagesAttempts || !ledger.IsRetryable(err) || ctx.Err() != nil {
			return tx, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		pause *= 2
	}
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
