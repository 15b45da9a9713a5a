package tokenstd

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/shopspring/decimal"
)

// The modules of the token standard v1 interface packages, and of the Daml
// standard library type the Lock record uses.
const (
	ModuleHolding             = "Splice.Api.Token.HoldingV1"
	ModuleMetadata            = "Splice.Api.Token.MetadataV1"
	ModuleTransferInstruction = "Splice.Api.Token.TransferInstructionV1"
	moduleRelTime             = "DA.Time.Types"
)

// The token standard v1 choices the classifier reads.
const (
	ChoiceTransferFactoryTransfer = "TransferFactory_Transfer"
	ChoiceInstructionAccept       = "TransferInstruction_Accept"
	ChoiceInstructionReject       = "TransferInstruction_Reject"
	ChoiceInstructionWithdraw     = "TransferInstruction_Withdraw"
	ChoiceInstructionUpdate       = "TransferInstruction_Update"
)

// ErrUnsupportedVersion is wrapped by errors about values or interfaces of
// a token standard version this package does not know: a view of a
// HoldingV2 interface, a record of a V1 type with fields V1 does not have.
// Reading such data as V1 could miss amounts, so it is never guessed at.
var ErrUnsupportedVersion = errors.New("tokenstd: unsupported token standard version")

// IsTokenStandardModule reports whether module belongs to a token standard
// interface package, and whether that package is a version this package
// reads (v1). The modules of token standard interface packages of any
// version match ^Splice\.Api\.Token\.[A-Za-z]+V([0-9]+)$.
func IsTokenStandardModule(module string) (standard, supported bool) {
	name, ok := strings.CutPrefix(module, "Splice.Api.Token.")
	if !ok {
		return false, false
	}
	// name is letters, then V, then the version's digits.
	v := strings.LastIndexByte(name, 'V')
	if v < 1 || v == len(name)-1 {
		return false, false
	}
	for _, c := range []byte(name[:v]) {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false, false
		}
	}
	version := name[v+1:]
	for _, c := range []byte(version) {
		if c < '0' || c > '9' {
			return false, false
		}
	}
	return true, version == "1"
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}

// valueErr puts path in front of err's own path, keeping *ledger.ValueError
// matchable with errors.As.
func valueErr(path string, err error) error {
	var ve *ledger.ValueError
	if errors.As(err, &ve) {
		c := *ve
		c.Path = joinPath(path, ve.Path)
		return &c
	}
	if path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

func versionErr(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		return fmt.Errorf("value at %s: %w: %s", path, ErrUnsupportedVersion, msg)
	}
	return fmt.Errorf("%w: %s", ErrUnsupportedVersion, msg)
}

// A path says where a value sits in the value being decoded: in the field
// label of the record at up, or at the root when the path is nil. Decoders
// hand paths down as they read, and a path is spelled out as a string
// ("transfer.instrumentId.admin") only when an error names it: decoding a
// well-formed value builds no path strings.
//
// Paths live in the decoders' stack frames. Spell one with String; handing
// a *path itself to fmt or to an error would move every path to the heap.
type path struct {
	up    *path
	label string
}

func (p *path) String() string { return string(p.appendTo(nil)) }

// appendTo appends the path to b, joining labels as joinPath does. It copies
// the labels' bytes rather than returning a label, which would tell the
// compiler that the path escapes.
func (p *path) appendTo(b []byte) []byte {
	if p == nil {
		return b
	}
	b = p.up.appendTo(b)
	if len(b) > 0 && p.label != "" {
		b = append(b, '.')
	}
	return append(b, p.label...)
}

// reader decodes one value, keeping the first error and turning every later
// access into a no-op, so that decoders read like the record they decode.
type reader struct{ err error }

// setErr records err, unless an error was recorded before, as the error of
// the value at p.
func (r *reader) setErr(p *path, err error) {
	if r.err == nil && err != nil {
		r.err = valueErr(p.String(), err)
	}
}

// setElemErr is setErr for the element of the list or map at p that elem
// ("[3]", `["key"]`) names.
func (r *reader) setElemErr(p *path, elem string, err error) {
	if r.err == nil && err != nil {
		r.err = valueErr(p.String()+elem, err)
	}
}

// record checks that v is a record of module:entity (when the participant
// sent the type) with exactly the given field labels, and returns it.
// entity "" accepts any entity of the module.
func (r *reader) record(v ledger.Value, at *path, module, entity string, labels ...string) ledger.Value {
	if r.err != nil {
		return ledger.Value{}
	}
	if v.Kind() != ledger.KindRecord {
		r.err = &ledger.ValueError{Path: at.String(), Want: "record", Got: v.Kind()}
		return ledger.Value{}
	}
	if err := checkType(v, at, module, entity); err != nil {
		r.err = err
		return ledger.Value{}
	}
	var buf [16]bool
	seen := buf[:0] // seen[k]: a field labels[k] was read
	if len(labels) > len(buf) {
		seen = make([]bool, len(labels))
	}
	seen = seen[:len(labels)]
	for i := range v.NumFields() {
		label, _ := v.LabelAt(i)
		k := slices.Index(labels, label)
		switch {
		case label == "":
			r.err = &ledger.ValueError{Path: at.String(), Msg: "record field without a label: the update stream must be verbose"}
			return ledger.Value{}
		case k < 0:
			// The error gets a copy of labels, so that the callers' lists
			// of labels need not move to the heap.
			r.err = versionErr(at.String(), "unexpected field %q in %s.%s (known fields: %v)", label, module, entity, slices.Clone(labels))
			return ledger.Value{}
		case seen[k]:
			r.err = &ledger.ValueError{Path: joinPath(at.String(), label), Msg: "duplicate record field"}
			return ledger.Value{}
		}
		seen[k] = true
	}
	for k, l := range labels {
		if !seen[k] {
			r.err = &ledger.ValueError{Path: joinPath(at.String(), l), Msg: "missing record field"}
			return ledger.Value{}
		}
	}
	return v
}

func checkType(v ledger.Value, at *path, module, entity string) error {
	id, ok := v.TypeID()
	if !ok {
		return nil
	}
	if id.ModuleName == module && (entity == "" || id.EntityName == entity) {
		return nil
	}
	if standard, _ := IsTokenStandardModule(id.ModuleName); standard && id.ModuleName != module {
		return versionErr(at.String(), "value of type %s where %s:%s was expected", id, module, entity)
	}
	return &ledger.ValueError{Path: at.String(), Msg: fmt.Sprintf("value of type %s where %s:%s was expected", id, module, entity)}
}

// field returns the field label of the record v, and the field's path:
// label under at, v's path.
func (r *reader) field(v ledger.Value, at *path, label string) (ledger.Value, path) {
	p := path{at, label}
	if r.err != nil {
		return ledger.Value{}, p
	}
	f, _ := v.Field(label)
	return f, p
}

func (r *reader) party(v ledger.Value, at *path, label string) string {
	f, p := r.field(v, at, label)
	if r.err != nil {
		return ""
	}
	s, err := f.AsParty()
	if err == nil && s == "" {
		err = &ledger.ValueError{Msg: "empty party"}
	}
	r.setErr(&p, err)
	return s
}

func (r *reader) text(v ledger.Value, at *path, label string) string {
	f, p := r.field(v, at, label)
	if r.err != nil {
		return ""
	}
	s, err := f.AsText()
	r.setErr(&p, err)
	return s
}

// amount reads a non-negative Decimal.
func (r *reader) amount(v ledger.Value, at *path, label string) decimal.Decimal {
	f, p := r.field(v, at, label)
	if r.err != nil {
		return decimal.Decimal{}
	}
	d, err := f.AsDecimal()
	if err == nil && d.IsNegative() {
		err = &ledger.ValueError{Msg: fmt.Sprintf("negative amount %s", d)}
	}
	r.setErr(&p, err)
	return d
}

func (r *reader) time(v ledger.Value, at *path, label string) time.Time {
	f, p := r.field(v, at, label)
	if r.err != nil {
		return time.Time{}
	}
	t, err := f.AsTimestamp()
	r.setErr(&p, err)
	return t
}

func (r *reader) optional(v ledger.Value, at *path, label string) (ledger.Value, bool, path) {
	f, p := r.field(v, at, label)
	if r.err != nil {
		return ledger.Value{}, false, p
	}
	inner, ok, err := f.AsOptional()
	r.setErr(&p, err)
	return inner, ok && err == nil, p
}

func (r *reader) list(v ledger.Value, at *path, label string) ([]ledger.Value, path) {
	f, p := r.field(v, at, label)
	if r.err != nil {
		return nil, p
	}
	l, err := f.AsList()
	r.setErr(&p, err)
	return l, p
}

func (r *reader) contractIDs(v ledger.Value, at *path, label string) []string {
	l, p := r.list(v, at, label)
	if r.err != nil {
		return nil
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		cid, err := e.AsContractID()
		if err == nil && cid == "" {
			err = &ledger.ValueError{Msg: "empty contract id"}
		}
		if err != nil {
			r.setElemErr(&p, fmt.Sprintf("[%d]", i), err)
			return nil
		}
		out = append(out, cid)
	}
	return out
}

func (r *reader) parties(v ledger.Value, at *path, label string) []string {
	l, p := r.list(v, at, label)
	if r.err != nil {
		return nil
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		s, err := e.AsParty()
		if err != nil {
			r.setElemErr(&p, fmt.Sprintf("[%d]", i), err)
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (r *reader) metadata(v ledger.Value, at *path, label string) Metadata {
	f, p := r.field(v, at, label)
	if r.err != nil {
		return nil
	}
	return r.meta(f, &p)
}

func (r *reader) meta(v ledger.Value, at *path) Metadata {
	v = r.record(v, at, ModuleMetadata, "Metadata", "values")
	f, p := r.field(v, at, "values")
	if r.err != nil {
		return nil
	}
	n, err := f.TextMapLen()
	if err != nil {
		r.setErr(&p, err)
		return nil
	}
	if n == 0 {
		return nil // as Merge and the store give empty metadata
	}
	out := make(Metadata, n)
	var renamed map[string]bool // keys read from a label with a NUL
	for i := range n {
		e, _ := f.TextMapAt(i)
		s, err := e.Value.AsText()
		if err != nil {
			r.setElemErr(&p, fmt.Sprintf("[%q]", e.Label), err)
			return nil
		}
		k := withoutNUL(e.Label)
		if _, dup := out[k]; dup {
			if k == e.Label && !renamed[k] {
				r.setErr(&p, &ledger.ValueError{Msg: fmt.Sprintf("duplicate key %q", e.Label)})
				return nil
			}
			continue // a label with a NUL read as another one: the first stays
		}
		if k != e.Label {
			put(&renamed, k, true)
		}
		out[k] = withoutNUL(s)
	}
	return out
}

// withoutNUL returns s with each NUL character replaced by U+FFFD.
// Metadata is free text its writers (a depositor: transfer.meta,
// extraArgs.meta) choose, and PostgreSQL's text and jsonb cannot hold a
// NUL: kept, it would make the transaction unstorable, and any depositor
// could halt ingestion. DefaultAccount refuses a reason holding U+FFFD.
func withoutNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

func (r *reader) instrument(v ledger.Value, at *path) Instrument {
	v = r.record(v, at, ModuleHolding, "InstrumentId", "admin", "id")
	inst := Instrument{Admin: r.party(v, at, "admin"), ID: r.text(v, at, "id")}
	if r.err == nil && inst.ID == "" {
		r.setErr(&path{at, "id"}, &ledger.ValueError{Msg: "empty instrument id"})
	}
	return inst
}

func (r *reader) lock(v ledger.Value, at *path) *Lock {
	v = r.record(v, at, ModuleHolding, "Lock", "holders", "expiresAt", "expiresAfter", "context")
	l := &Lock{Holders: r.parties(v, at, "holders")}
	if t, ok, p := r.optional(v, at, "expiresAt"); ok {
		ts, err := t.AsTimestamp()
		r.setErr(&p, err)
		l.ExpiresAt = &ts
	}
	if rt, ok, p := r.optional(v, at, "expiresAfter"); ok {
		rt = r.record(rt, &p, moduleRelTime, "RelTime", "microseconds")
		f, fp := r.field(rt, &p, "microseconds")
		if r.err == nil {
			us, err := f.AsInt64()
			r.setErr(&fp, err)
			d := time.Duration(us) * time.Microsecond
			if r.err == nil && d/time.Microsecond != time.Duration(us) {
				r.setErr(&fp, &ledger.ValueError{Msg: fmt.Sprintf("relative time of %d µs overflows", us)})
			}
			l.ExpiresAfter = &d
		}
	}
	if c, ok, p := r.optional(v, at, "context"); ok {
		s, err := c.AsText()
		r.setErr(&p, err)
		l.Context = s
	}
	return l
}

func (r *reader) holdingView(v ledger.Value, at *path) HoldingView {
	v = r.record(v, at, ModuleHolding, "HoldingView", "owner", "instrumentId", "amount", "lock", "meta")
	h := HoldingView{Owner: r.party(v, at, "owner")}
	f, p := r.field(v, at, "instrumentId")
	h.Instrument = r.instrument(f, &p)
	h.Amount = r.amount(v, at, "amount")
	if l, ok, p := r.optional(v, at, "lock"); ok {
		h.Lock = r.lock(l, &p)
	}
	h.Meta = r.metadata(v, at, "meta")
	return h
}

func (r *reader) transfer(v ledger.Value, at *path) Transfer {
	v = r.record(v, at, ModuleTransferInstruction, "Transfer",
		"sender", "receiver", "amount", "instrumentId", "requestedAt", "executeBefore", "inputHoldingCids", "meta")
	t := Transfer{
		Sender:   r.party(v, at, "sender"),
		Receiver: r.party(v, at, "receiver"),
		Amount:   r.amount(v, at, "amount"),
	}
	f, p := r.field(v, at, "instrumentId")
	t.Instrument = r.instrument(f, &p)
	t.RequestedAt = r.time(v, at, "requestedAt")
	t.ExecuteBefore = r.time(v, at, "executeBefore")
	t.InputHoldingCIDs = r.contractIDs(v, at, "inputHoldingCids")
	t.Meta = r.metadata(v, at, "meta")
	return t
}

func (r *reader) extraArgs(v ledger.Value, at *path) ExtraArgs {
	v = r.record(v, at, ModuleMetadata, "ExtraArgs", "context", "meta")
	ctx, p := r.field(v, at, "context")
	ctx = r.record(ctx, &p, ModuleMetadata, "ChoiceContext", "values")
	vals, vp := r.field(ctx, &p, "values")
	var out ExtraArgs
	if r.err == nil {
		n, err := vals.TextMapLen()
		r.setErr(&vp, err)
		if err == nil {
			out.Context = make(map[string]ledger.Value, n)
			for i := range n {
				e, _ := vals.TextMapAt(i)
				out.Context[e.Label] = e.Value
			}
		}
	}
	out.Meta = r.metadata(v, at, "meta")
	return out
}

func (r *reader) instructionView(v ledger.Value, at *path) TransferInstructionView {
	v = r.record(v, at, ModuleTransferInstruction, "TransferInstructionView", "originalInstructionCid", "transfer", "status", "meta")
	var out TransferInstructionView
	if c, ok, p := r.optional(v, at, "originalInstructionCid"); ok {
		cid, err := c.AsContractID()
		r.setErr(&p, err)
		out.OriginalInstructionCID = cid
	}
	f, p := r.field(v, at, "transfer")
	out.Transfer = r.transfer(f, &p)
	st, sp := r.field(v, at, "status")
	if r.err == nil {
		cons, payload, err := st.AsVariant()
		r.setErr(&sp, err)
		if err == nil {
			if err := checkType(st, &sp, ModuleTransferInstruction, "TransferInstructionStatus"); err != nil {
				r.setErr(nil, err)
			}
		}
		pp := path{&sp, cons}
		switch InstructionStatus(cons) {
		case StatusPendingReceiverAcceptance:
			out.Status = StatusPendingReceiverAcceptance
			r.unitPayload(payload, &pp)
		case StatusPendingInternalWorkflow:
			out.Status = StatusPendingInternalWorkflow
			payload = r.record(payload, &pp, ModuleTransferInstruction, "", "pendingActions")
			m, mp := r.field(payload, &pp, "pendingActions")
			if r.err == nil {
				entries, err := m.AsGenMap()
				r.setErr(&mp, err)
				out.PendingActions = make(map[string]string, len(entries))
				for i, e := range entries {
					party, err := e.Key.AsParty()
					if err == nil {
						out.PendingActions[party], err = e.Value.AsText()
					}
					if err != nil {
						r.setElemErr(&mp, fmt.Sprintf("[%d]", i), err)
						break
					}
				}
			}
		default:
			if r.err == nil {
				r.err = versionErr(sp.String(), "unknown TransferInstructionStatus constructor %q", cons)
			}
		}
	}
	out.Meta = r.metadata(v, at, "meta")
	return out
}

// unitPayload accepts the payload of a constructor without fields: unit, or
// an empty record.
func (r *reader) unitPayload(v ledger.Value, at *path) {
	if r.err != nil {
		return
	}
	switch v.Kind() {
	case ledger.KindUnit:
	case ledger.KindRecord:
		if v.NumFields() != 0 {
			r.err = versionErr(at.String(), "constructor without fields has a payload with %d fields", v.NumFields())
		}
	default:
		r.err = &ledger.ValueError{Path: at.String(), Want: "unit", Got: v.Kind()}
	}
}

func (r *reader) result(v ledger.Value, at *path) TransferInstructionResult {
	v = r.record(v, at, ModuleTransferInstruction, "TransferInstructionResult", "output", "senderChangeCids", "meta")
	var out TransferInstructionResult
	o, op := r.field(v, at, "output")
	if r.err == nil {
		cons, payload, err := o.AsVariant()
		r.setErr(&op, err)
		if err == nil {
			if err := checkType(o, &op, ModuleTransferInstruction, "TransferInstructionResult_Output"); err != nil {
				r.setErr(nil, err)
			}
		}
		pp := path{&op, cons}
		switch cons {
		case "TransferInstructionResult_Pending":
			out.Output = OutputPending
			payload = r.record(payload, &pp, ModuleTransferInstruction, "", "transferInstructionCid")
			f, fp := r.field(payload, &pp, "transferInstructionCid")
			if r.err == nil {
				cid, err := f.AsContractID()
				if err == nil && cid == "" {
					err = &ledger.ValueError{Msg: "empty contract id"}
				}
				r.setErr(&fp, err)
				out.InstructionCID = cid
			}
		case "TransferInstructionResult_Completed":
			out.Output = OutputCompleted
			payload = r.record(payload, &pp, ModuleTransferInstruction, "", "receiverHoldingCids")
			out.ReceiverHoldingCIDs = r.contractIDs(payload, &pp, "receiverHoldingCids")
		case "TransferInstructionResult_Failed":
			out.Output = OutputFailed
			r.unitPayload(payload, &pp)
		default:
			if r.err == nil {
				r.err = versionErr(op.String(), "unknown TransferInstructionResult_Output constructor %q", cons)
			}
		}
	}
	out.SenderChangeCIDs = r.contractIDs(v, at, "senderChangeCids")
	out.Meta = r.metadata(v, at, "meta")
	return out
}

// DecodeMetadata decodes a Metadata record. Empty metadata decodes to nil.
func DecodeMetadata(v ledger.Value) (Metadata, error) {
	var r reader
	m := r.meta(v, nil)
	return m, r.err
}

// DecodeInstrumentID decodes an InstrumentId record.
func DecodeInstrumentID(v ledger.Value) (Instrument, error) {
	var r reader
	i := r.instrument(v, nil)
	return i, r.err
}

// DecodeLock decodes a Lock record.
func DecodeLock(v ledger.Value) (Lock, error) {
	var r reader
	l := r.lock(v, nil)
	if r.err != nil {
		return Lock{}, r.err
	}
	return *l, nil
}

// DecodeHoldingView decodes a HoldingView record: the view of a
// HoldingV1 Holding. The amount must be a well-formed, non-negative
// numeric.
func DecodeHoldingView(v ledger.Value) (HoldingView, error) {
	var r reader
	h := r.holdingView(v, nil)
	return h, r.err
}

// DecodeTransfer decodes a Transfer record.
func DecodeTransfer(v ledger.Value) (Transfer, error) {
	var r reader
	t := r.transfer(v, nil)
	return t, r.err
}

// DecodeExtraArgs decodes an ExtraArgs record. The choice context's values
// are kept undecoded.
func DecodeExtraArgs(v ledger.Value) (ExtraArgs, error) {
	var r reader
	e := r.extraArgs(v, nil)
	return e, r.err
}

// DecodeTransferInstructionView decodes a TransferInstructionView record:
// the view of a TransferInstructionV1 TransferInstruction.
func DecodeTransferInstructionView(v ledger.Value) (TransferInstructionView, error) {
	var r reader
	t := r.instructionView(v, nil)
	return t, r.err
}

// DecodeTransferInstructionResult decodes the result of
// TransferFactory_Transfer and of the TransferInstruction choices.
func DecodeTransferInstructionResult(v ledger.Value) (TransferInstructionResult, error) {
	var r reader
	t := r.result(v, nil)
	return t, r.err
}

// DecodeTransferFactoryTransfer decodes the argument of the
// TransferFactory_Transfer choice.
func DecodeTransferFactoryTransfer(v ledger.Value) (TransferFactoryTransfer, error) {
	var r reader
	v = r.record(v, nil, ModuleTransferInstruction, ChoiceTransferFactoryTransfer, "expectedAdmin", "transfer", "extraArgs")
	out := TransferFactoryTransfer{ExpectedAdmin: r.party(v, nil, "expectedAdmin")}
	f, p := r.field(v, nil, "transfer")
	out.Transfer = r.transfer(f, &p)
	f, p = r.field(v, nil, "extraArgs")
	out.ExtraArgs = r.extraArgs(f, &p)
	return out, r.err
}

// DecodeInstructionChoice decodes the argument of one of the
// TransferInstruction choices (TransferInstruction_Accept, _Reject,
// _Withdraw, _Update) and returns its extra arguments.
func DecodeInstructionChoice(choice string, v ledger.Value) (ExtraArgs, error) {
	var r reader
	switch choice {
	case ChoiceInstructionAccept, ChoiceInstructionReject, ChoiceInstructionWithdraw:
		v = r.record(v, nil, ModuleTransferInstruction, choice, "extraArgs")
	case ChoiceInstructionUpdate:
		v = r.record(v, nil, ModuleTransferInstruction, choice, "extraActors", "extraArgs")
		r.parties(v, nil, "extraActors")
	default:
		return ExtraArgs{}, fmt.Errorf("tokenstd: %q is not a TransferInstruction choice", choice)
	}
	f, p := r.field(v, nil, "extraArgs")
	e := r.extraArgs(f, &p)
	return e, r.err
}

// lenientMeta returns the metadata in v's field label when v is a record
// with such a field of the Metadata shape, or of the Optional Metadata shape
// (Some; Amulet's own choices carry their metadata so), and nil otherwise.
func lenientMeta(v ledger.Value, label string) Metadata {
	f, ok := v.Field(label)
	if !ok {
		return nil
	}
	if f.Kind() == ledger.KindOptional {
		if f, ok, _ = f.AsOptional(); !ok {
			return nil
		}
	}
	m, err := DecodeMetadata(f)
	if err != nil {
		return nil
	}
	return m
}

func lenientNested(v ledger.Value, outer, label string) Metadata {
	f, ok := v.Field(outer)
	if !ok {
		return nil
	}
	return lenientMeta(f, label)
}

// lenientMerged is MergedMetadata for a choice that is not a standard one.
func lenientMerged(ev *ledger.ExercisedEvent) Metadata {
	arg := ev.ChoiceArgument
	return Metadata(nil).Merge(
		lenientNested(arg, "transfer", "meta"),
		lenientNested(arg, "extraArgs", "meta"),
		lenientMeta(arg, "meta"),
		lenientMeta(ev.ExerciseResult, "meta"),
	)
}

// isStandardChoice reports whether ev is a token standard v1 choice the
// classifier reads strictly, and fails on a choice of an unsupported
// version of a token standard interface.
//
// A choice of a standard name exercised without an interface is a
// template's own (the Ledger API names the interface of an interface
// choice): any party may write one, with an argument and result of its
// own types. It is read as the standard choice only if its argument and
// result have the standard's shapes; otherwise it is any other choice.
func isStandardChoice(ev *ledger.ExercisedEvent) (bool, error) {
	if ev.InterfaceID != nil {
		standard, supported := IsTokenStandardModule(ev.InterfaceID.ModuleName)
		if standard && !supported {
			return false, versionErr("", "choice %s exercised through interface %s", ev.Choice, ev.InterfaceID)
		}
		if !standard {
			return false, nil
		}
	}
	switch ev.Choice {
	case ChoiceTransferFactoryTransfer:
		if ev.InterfaceID == nil {
			return standardShapes(ev), nil
		}
		return ev.InterfaceID.SameEntity(ledger.TransferFactoryInterface), nil
	case ChoiceInstructionAccept, ChoiceInstructionReject, ChoiceInstructionWithdraw, ChoiceInstructionUpdate:
		if ev.InterfaceID == nil {
			return standardShapes(ev), nil
		}
		return ev.InterfaceID.SameEntity(ledger.TransferInstructionInterface), nil
	}
	return false, nil
}

// standardShapes reports whether the argument and result of ev, a choice
// of a standard name, decode as the standard choice's.
func standardShapes(ev *ledger.ExercisedEvent) bool {
	var err error
	if ev.Choice == ChoiceTransferFactoryTransfer {
		_, err = DecodeTransferFactoryTransfer(ev.ChoiceArgument)
	} else {
		_, err = DecodeInstructionChoice(ev.Choice, ev.ChoiceArgument)
	}
	if err == nil {
		_, err = DecodeTransferInstructionResult(ev.ExerciseResult)
	}
	return err == nil
}

// MergedMetadata returns the metadata of an exercise, merged in the order
// the token standard documents, later wins: the argument's transfer.meta,
// then its extraArgs.meta, then its own meta field, then the exercise
// result's meta.
//
// For the standard choices (TransferFactory_Transfer and the
// TransferInstruction choices, exercised through their interface) the
// argument and result must have the standard shapes, or an error says
// what is wrong; a template's own choice of such a name (no interface)
// is read so only if they have. For any other choice
// the fields are read where they have the Metadata shape, or are Some of
// it (Amulet's own choices carry meta : Optional Metadata), and ignored
// otherwise, since such choices are free to use those names for anything.
func MergedMetadata(ev *ledger.ExercisedEvent) (Metadata, error) {
	std, err := isStandardChoice(ev)
	if err != nil {
		return nil, err
	}
	if !std {
		return lenientMerged(ev), nil
	}
	var transferMeta, extraMeta Metadata
	if ev.Choice == ChoiceTransferFactoryTransfer {
		a, err := DecodeTransferFactoryTransfer(ev.ChoiceArgument)
		if err != nil {
			return nil, valueErr("choice argument", err)
		}
		transferMeta, extraMeta = a.Transfer.Meta, a.ExtraArgs.Meta
	} else {
		e, err := DecodeInstructionChoice(ev.Choice, ev.ChoiceArgument)
		if err != nil {
			return nil, valueErr("choice argument", err)
		}
		extraMeta = e.Meta
	}
	res, err := DecodeTransferInstructionResult(ev.ExerciseResult)
	if err != nil {
		return nil, valueErr("exercise result", err)
	}
	return transferMeta.Merge(extraMeta, res.Meta), nil
}
