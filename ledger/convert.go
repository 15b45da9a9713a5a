package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	pb "github.com/cantonx/txhistory/proto/gen/lapiv2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// maxValueDepth bounds the nesting of decoded values so that hostile input
// cannot exhaust the stack.
const maxValueDepth = 100

// ValueFromProto converts a wire value. A nil value converts to the invalid
// (zero) Value; a value nested deeper than 100 levels is an error.
func ValueFromProto(v *pb.Value) (Value, error) { return valueFromProto(v, 0) }

func valueFromProto(v *pb.Value, depth int) (Value, error) {
	if v == nil {
		return Value{}, nil
	}
	if depth > maxValueDepth {
		return Value{}, &ValueError{Msg: fmt.Sprintf("nested deeper than %d levels", maxValueDepth)}
	}
	switch s := v.Sum.(type) {
	case nil:
		return Value{}, nil
	case *pb.Value_Unit:
		return Unit(), nil
	case *pb.Value_Bool:
		return Bool(s.Bool), nil
	case *pb.Value_Int64:
		return Int64(s.Int64), nil
	case *pb.Value_Date:
		return DateDays(s.Date), nil
	case *pb.Value_Timestamp:
		return TimestampMicros(s.Timestamp), nil
	case *pb.Value_Numeric:
		return Numeric(s.Numeric), nil
	case *pb.Value_Party:
		return Party(s.Party), nil
	case *pb.Value_Text:
		return Text(s.Text), nil
	case *pb.Value_ContractId:
		return ContractID(s.ContractId), nil
	case *pb.Value_Optional:
		if s.Optional == nil || s.Optional.Value == nil {
			return None(), nil
		}
		inner, err := valueFromProto(s.Optional.Value, depth+1)
		if err != nil {
			return Value{}, err
		}
		return Some(inner), nil
	case *pb.Value_List:
		elems := make([]Value, len(s.List.GetElements()))
		for i, e := range s.List.GetElements() {
			var err error
			if elems[i], err = valueFromProto(e, depth+1); err != nil {
				return Value{}, err
			}
		}
		return composite(KindList, nil, "", nil, &elems), nil
	case *pb.Value_TextMap:
		entries := s.TextMap.GetEntries()
		keys, elems := make([]string, len(entries)), make([]Value, len(entries))
		for i, e := range entries {
			keys[i] = e.GetKey()
			var err error
			if elems[i], err = valueFromProto(e.GetValue(), depth+1); err != nil {
				return Value{}, err
			}
		}
		return composite(KindTextMap, nil, "", &keys, &elems), nil
	case *pb.Value_GenMap:
		entries := s.GenMap.GetEntries()
		elems := make([]Value, 2*len(entries))
		for i, e := range entries {
			var err error
			if elems[2*i], err = valueFromProto(e.GetKey(), depth+1); err != nil {
				return Value{}, err
			}
			if elems[2*i+1], err = valueFromProto(e.GetValue(), depth+1); err != nil {
				return Value{}, err
			}
		}
		return composite(KindGenMap, nil, "", nil, &elems), nil
	case *pb.Value_Record:
		return recordFromProto(s.Record, depth)
	case *pb.Value_Variant:
		inner, err := valueFromProto(s.Variant.GetValue(), depth+1)
		if err != nil {
			return Value{}, err
		}
		return composite(KindVariant, identifierPtr(s.Variant.GetVariantId()), s.Variant.GetConstructor(), nil, &[]Value{inner}), nil
	case *pb.Value_Enum:
		return Value{kind: KindEnum, id: identifierPtr(s.Enum.GetEnumId()), s: s.Enum.GetConstructor()}, nil
	default:
		return Value{}, &ValueError{Msg: fmt.Sprintf("unknown value kind %T", s)}
	}
}

// RecordFromProto converts a wire record to a record Value. A nil record
// converts to the invalid Value.
func RecordFromProto(r *pb.Record) (Value, error) {
	if r == nil {
		return Value{}, nil
	}
	return recordFromProto(r, 0)
}

func recordFromProto(r *pb.Record, depth int) (Value, error) {
	fields := r.GetFields()
	keys, elems := make([]string, len(fields)), make([]Value, len(fields))
	for i, f := range fields {
		keys[i] = f.GetLabel()
		var err error
		if elems[i], err = valueFromProto(f.GetValue(), depth+1); err != nil {
			return Value{}, err
		}
	}
	return composite(KindRecord, identifierPtr(r.GetRecordId()), "", &keys, &elems), nil
}

func identifierPtr(id *pb.Identifier) *Identifier {
	if id == nil {
		return nil
	}
	out := IdentifierFromProto(id)
	return &out
}

// IdentifierFromProto converts a wire identifier.
func IdentifierFromProto(id *pb.Identifier) Identifier {
	return Identifier{PackageID: id.GetPackageId(), ModuleName: id.GetModuleName(), EntityName: id.GetEntityName()}
}

// Proto converts the identifier to its wire form.
func (id Identifier) Proto() *pb.Identifier {
	return &pb.Identifier{PackageId: id.PackageID, ModuleName: id.ModuleName, EntityName: id.EntityName}
}

// Proto converts v to its wire form. The invalid Value converts to nil.
func (v Value) Proto() *pb.Value {
	switch v.kind {
	case KindUnit:
		return &pb.Value{Sum: &pb.Value_Unit{Unit: &emptypb.Empty{}}}
	case KindBool:
		return &pb.Value{Sum: &pb.Value_Bool{Bool: v.i != 0}}
	case KindInt64:
		return &pb.Value{Sum: &pb.Value_Int64{Int64: v.i}}
	case KindDate:
		return &pb.Value{Sum: &pb.Value_Date{Date: int32(v.i)}}
	case KindTimestamp:
		return &pb.Value{Sum: &pb.Value_Timestamp{Timestamp: v.i}}
	case KindNumeric:
		return &pb.Value{Sum: &pb.Value_Numeric{Numeric: v.s}}
	case KindParty:
		return &pb.Value{Sum: &pb.Value_Party{Party: v.s}}
	case KindText:
		return &pb.Value{Sum: &pb.Value_Text{Text: v.s}}
	case KindContractID:
		return &pb.Value{Sum: &pb.Value_ContractId{ContractId: v.s}}
	case KindOptional:
		o := &pb.Optional{}
		if len(v.vals()) > 0 {
			o.Value = v.vals()[0].Proto()
		}
		return &pb.Value{Sum: &pb.Value_Optional{Optional: o}}
	case KindList:
		l := &pb.List{Elements: make([]*pb.Value, len(v.vals()))}
		for i, e := range v.vals() {
			l.Elements[i] = e.Proto()
		}
		return &pb.Value{Sum: &pb.Value_List{List: l}}
	case KindTextMap:
		m := &pb.TextMap{Entries: make([]*pb.TextMap_Entry, len(v.labels()))}
		for i, k := range v.labels() {
			m.Entries[i] = &pb.TextMap_Entry{Key: k, Value: v.vals()[i].Proto()}
		}
		return &pb.Value{Sum: &pb.Value_TextMap{TextMap: m}}
	case KindGenMap:
		m := &pb.GenMap{Entries: make([]*pb.GenMap_Entry, len(v.vals())/2)}
		for i := range m.Entries {
			m.Entries[i] = &pb.GenMap_Entry{Key: v.vals()[2*i].Proto(), Value: v.vals()[2*i+1].Proto()}
		}
		return &pb.Value{Sum: &pb.Value_GenMap{GenMap: m}}
	case KindRecord:
		return &pb.Value{Sum: &pb.Value_Record{Record: v.RecordProto()}}
	case KindVariant:
		var payload *pb.Value
		if len(v.vals()) > 0 {
			payload = v.vals()[0].Proto()
		}
		return &pb.Value{Sum: &pb.Value_Variant{Variant: &pb.Variant{VariantId: v.idProto(), Constructor: v.s, Value: payload}}}
	case KindEnum:
		return &pb.Value{Sum: &pb.Value_Enum{Enum: &pb.Enum{EnumId: v.idProto(), Constructor: v.s}}}
	}
	return nil
}

// RecordProto converts a record Value to a wire record; nil for other kinds.
func (v Value) RecordProto() *pb.Record {
	if v.kind != KindRecord {
		return nil
	}
	r := &pb.Record{RecordId: v.idProto(), Fields: make([]*pb.RecordField, len(v.labels()))}
	for i, k := range v.labels() {
		r.Fields[i] = &pb.RecordField{Label: k, Value: v.vals()[i].Proto()}
	}
	return r
}

func (v Value) idProto() *pb.Identifier {
	if v.id == nil {
		return nil
	}
	return v.id.Proto()
}

func timeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC()
}

// inDamlRange reports whether t, a record time, lies in Daml's years 1 to
// 9999: PostgreSQL cannot store every time the wire can carry.
func inDamlRange(t time.Time) bool {
	return !t.Before(time.UnixMicro(minTimestampUS)) && !t.After(time.UnixMicro(maxTimestampUS))
}

func timeProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// DecodeError says that an update from the participant could not be decoded.
type DecodeError struct {
	Offset   int64
	UpdateID string
	NodeID   int32 // -1 when the error is not about one event
	Err      error
	// Raw is the offending item as ReviewJSON encodes it, when it could be
	// encoded: what a review queue stores for an operator.
	Raw []byte
}

func (e *DecodeError) Error() string {
	id := e.UpdateID
	if len(id) > 100 {
		id = fmt.Sprintf("%.100s… (%d bytes)", id, len(id))
	}
	if !StorableUpdateID(id) && id != "" {
		id = strconv.Quote(id) // a NUL or other control characters
	}
	if id != "" {
		// Without one (a transaction that has none, an OffsetCheckpoint)
		// the message goes straight on to the offset.
		id += " "
	}
	if e.NodeID >= 0 {
		return fmt.Sprintf("ledger: decode update %sat offset %d, node %d: %v", id, e.Offset, e.NodeID, e.Err)
	}
	return fmt.Sprintf("ledger: decode update %sat offset %d: %v", id, e.Offset, e.Err)
}

// MaxUpdateIDLength is the longest update id accepted, in bytes. Canton's
// are about 70; PostgreSQL's indexes take entries of at most about 2,700.
const MaxUpdateIDLength = 1024

// StorableUpdateID reports whether id can be stored and looked up as an
// update id: not empty, at most MaxUpdateIDLength bytes, valid UTF-8
// without control characters (PostgreSQL's text refuses NUL). Decoding
// holds synchronizer ids to the same rule: the checkpoint keys them too.
func StorableUpdateID(id string) bool {
	if id == "" || len(id) > MaxUpdateIDLength || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func (e *DecodeError) Unwrap() error { return e.Err }

// TransactionFromProto converts a wire transaction, validating what the
// ingestion relies on: an update id, a positive offset, a record time (in
// Daml's years 1 to 9999), a synchronizer id.
func TransactionFromProto(t *pb.Transaction) (*Transaction, error) {
	tx := &Transaction{
		UpdateID:       t.GetUpdateId(),
		CommandID:      t.GetCommandId(),
		WorkflowID:     t.GetWorkflowId(),
		Offset:         t.GetOffset(),
		SynchronizerID: t.GetSynchronizerId(),
		EffectiveAt:    timeFromProto(t.GetEffectiveAt()),
		RecordTime:     timeFromProto(t.GetRecordTime()),
		Events:         make([]Event, 0, len(t.GetEvents())),
	}
	fail := func(node int32, format string, args ...any) error {
		return &DecodeError{Offset: tx.Offset, UpdateID: tx.UpdateID, NodeID: node, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case tx.UpdateID == "":
		return nil, fail(-1, "transaction has no update id")
	case !StorableUpdateID(tx.UpdateID):
		return nil, fail(-1, "update id of %d bytes is not one a participant sends (at most %d bytes of text without control characters)", len(tx.UpdateID), MaxUpdateIDLength)
	case tx.Offset <= 0:
		return nil, fail(-1, "transaction has invalid offset %d", tx.Offset)
	case t.GetRecordTime() == nil:
		return nil, fail(-1, "transaction has no record time")
	case !inDamlRange(tx.RecordTime):
		return nil, fail(-1, "record time %s is %s", tx.RecordTime.Format(time.RFC3339Nano), damlTimeRangeMsg)
	case tx.SynchronizerID == "":
		return nil, fail(-1, "transaction has no synchronizer id")
	case !StorableUpdateID(tx.SynchronizerID):
		return nil, fail(-1, "synchronizer id %q of %d bytes is not one a participant sends (at most %d bytes of text without control characters)",
			truncate(tx.SynchronizerID, 64), len(tx.SynchronizerID), MaxUpdateIDLength)
	}
	for i, e := range t.GetEvents() {
		switch ev := e.GetEvent().(type) {
		case *pb.Event_Created:
			c := ev.Created
			args, err := RecordFromProto(c.GetCreateArguments())
			if err != nil {
				return nil, fail(c.GetNodeId(), "create arguments: %w", err)
			}
			key, err := ValueFromProto(c.GetContractKey())
			if err != nil {
				return nil, fail(c.GetNodeId(), "contract key: %w", err)
			}
			views := make([]InterfaceView, len(c.GetInterfaceViews()))
			for j, iv := range c.GetInterfaceViews() {
				vv, err := RecordFromProto(iv.GetViewValue())
				if err != nil {
					return nil, fail(c.GetNodeId(), "interface view %d: %w", j, err)
				}
				views[j] = InterfaceView{
					InterfaceID:             IdentifierFromProto(iv.GetInterfaceId()),
					StatusCode:              iv.GetViewStatus().GetCode(),
					StatusMessage:           iv.GetViewStatus().GetMessage(),
					Value:                   vv,
					ImplementationPackageID: iv.GetImplementationPackageId(),
				}
			}
			tx.Events = append(tx.Events, &CreatedEvent{
				Offset: c.GetOffset(), NodeID: c.GetNodeId(), ContractID: c.GetContractId(),
				TemplateID: IdentifierFromProto(c.GetTemplateId()), PackageName: c.GetPackageName(),
				ContractKey: key, CreateArguments: args, CreatedEventBlob: c.GetCreatedEventBlob(),
				InterfaceViews: views, WitnessParties: c.GetWitnessParties(), Signatories: c.GetSignatories(),
				Observers: c.GetObservers(), CreatedAt: timeFromProto(c.GetCreatedAt()), ACSDelta: c.GetAcsDelta(),
			})
		case *pb.Event_Archived:
			a := ev.Archived
			tx.Events = append(tx.Events, &ArchivedEvent{
				Offset: a.GetOffset(), NodeID: a.GetNodeId(), ContractID: a.GetContractId(),
				TemplateID: IdentifierFromProto(a.GetTemplateId()), PackageName: a.GetPackageName(),
				WitnessParties: a.GetWitnessParties(), ImplementedInterfaces: identifiersFromProto(a.GetImplementedInterfaces()),
			})
		case *pb.Event_Exercised:
			x := ev.Exercised
			arg, err := ValueFromProto(x.GetChoiceArgument())
			if err != nil {
				return nil, fail(x.GetNodeId(), "choice argument: %w", err)
			}
			res, err := ValueFromProto(x.GetExerciseResult())
			if err != nil {
				return nil, fail(x.GetNodeId(), "exercise result: %w", err)
			}
			if x.GetLastDescendantNodeId() < x.GetNodeId() {
				return nil, fail(x.GetNodeId(), "last descendant node id %d is below the node id", x.GetLastDescendantNodeId())
			}
			tx.Events = append(tx.Events, &ExercisedEvent{
				Offset: x.GetOffset(), NodeID: x.GetNodeId(), ContractID: x.GetContractId(),
				TemplateID: IdentifierFromProto(x.GetTemplateId()), InterfaceID: identifierPtr(x.GetInterfaceId()),
				Choice: x.GetChoice(), ChoiceArgument: arg, ActingParties: x.GetActingParties(),
				Consuming: x.GetConsuming(), WitnessParties: x.GetWitnessParties(),
				LastDescendantNodeID: x.GetLastDescendantNodeId(), ExerciseResult: res,
				PackageName: x.GetPackageName(), ImplementedInterfaces: identifiersFromProto(x.GetImplementedInterfaces()),
				ACSDelta: x.GetAcsDelta(),
			})
		default:
			return nil, fail(-1, "event %d has no known kind", i)
		}
	}
	return tx, nil
}

func identifiersFromProto(ids []*pb.Identifier) []Identifier {
	if len(ids) == 0 {
		return nil
	}
	out := make([]Identifier, len(ids))
	for i, id := range ids {
		out[i] = IdentifierFromProto(id)
	}
	return out
}

func identifiersProto(ids []Identifier) []*pb.Identifier {
	if len(ids) == 0 {
		return nil
	}
	out := make([]*pb.Identifier, len(ids))
	for i, id := range ids {
		out[i] = id.Proto()
	}
	return out
}

// Proto converts the transaction to its wire form (used by the fake participant).
func (t *Transaction) Proto() *pb.Transaction {
	out := &pb.Transaction{
		UpdateId: t.UpdateID, CommandId: t.CommandID, WorkflowId: t.WorkflowID, Offset: t.Offset,
		SynchronizerId: t.SynchronizerID, EffectiveAt: timeProto(t.EffectiveAt), RecordTime: timeProto(t.RecordTime),
		Events: make([]*pb.Event, len(t.Events)),
	}
	for i, e := range t.Events {
		out.Events[i] = EventProto(e, t.Offset)
	}
	return out
}

// EventProto converts an event to its wire form; offset fills the event's
// offset field when the event does not carry one.
func EventProto(e Event, offset int64) *pb.Event {
	pick := func(o int64) int64 {
		if o != 0 {
			return o
		}
		return offset
	}
	switch ev := e.(type) {
	case *CreatedEvent:
		views := make([]*pb.InterfaceView, len(ev.InterfaceViews))
		for i, v := range ev.InterfaceViews {
			views[i] = v.proto()
		}
		return &pb.Event{Event: &pb.Event_Created{Created: &pb.CreatedEvent{
			Offset: pick(ev.Offset), NodeId: ev.NodeID, ContractId: ev.ContractID, TemplateId: ev.TemplateID.Proto(),
			ContractKey: ev.ContractKey.Proto(), CreateArguments: ev.CreateArguments.RecordProto(),
			CreatedEventBlob: ev.CreatedEventBlob, InterfaceViews: views, WitnessParties: ev.WitnessParties,
			Signatories: ev.Signatories, Observers: ev.Observers, CreatedAt: timeProto(ev.CreatedAt),
			PackageName: ev.PackageName, AcsDelta: ev.ACSDelta,
		}}}
	case *ArchivedEvent:
		return &pb.Event{Event: &pb.Event_Archived{Archived: &pb.ArchivedEvent{
			Offset: pick(ev.Offset), NodeId: ev.NodeID, ContractId: ev.ContractID, TemplateId: ev.TemplateID.Proto(),
			WitnessParties: ev.WitnessParties, PackageName: ev.PackageName,
			ImplementedInterfaces: identifiersProto(ev.ImplementedInterfaces),
		}}}
	case *ExercisedEvent:
		var iface *pb.Identifier
		if ev.InterfaceID != nil {
			iface = ev.InterfaceID.Proto()
		}
		return &pb.Event{Event: &pb.Event_Exercised{Exercised: &pb.ExercisedEvent{
			Offset: pick(ev.Offset), NodeId: ev.NodeID, ContractId: ev.ContractID, TemplateId: ev.TemplateID.Proto(),
			InterfaceId: iface, Choice: ev.Choice, ChoiceArgument: ev.ChoiceArgument.Proto(),
			ActingParties: ev.ActingParties, Consuming: ev.Consuming, WitnessParties: ev.WitnessParties,
			LastDescendantNodeId: ev.LastDescendantNodeID, ExerciseResult: ev.ExerciseResult.Proto(),
			PackageName: ev.PackageName, ImplementedInterfaces: identifiersProto(ev.ImplementedInterfaces),
			AcsDelta: ev.ACSDelta,
		}}}
	}
	return &pb.Event{}
}

func (v InterfaceView) proto() *pb.InterfaceView {
	out := &pb.InterfaceView{
		InterfaceId:             v.InterfaceID.Proto(),
		ViewValue:               v.Value.RecordProto(),
		ImplementationPackageId: v.ImplementationPackageID,
	}
	out.ViewStatus = statusProto(v.StatusCode, v.StatusMessage)
	return out
}

// CheckpointFromProto converts a wire offset checkpoint.
func CheckpointFromProto(c *pb.OffsetCheckpoint) (*OffsetCheckpoint, error) {
	if c.GetOffset() <= 0 {
		return nil, fmt.Errorf("ledger: offset checkpoint has invalid offset %d", c.GetOffset())
	}
	out := &OffsetCheckpoint{Offset: c.GetOffset(), SynchronizerTimes: make([]SynchronizerTime, len(c.GetSynchronizerTimes()))}
	for i, st := range c.GetSynchronizerTimes() {
		if st.GetSynchronizerId() == "" || st.GetRecordTime() == nil {
			return nil, fmt.Errorf("ledger: offset checkpoint at offset %d has an incomplete synchronizer time", c.GetOffset())
		}
		if rt := timeFromProto(st.GetRecordTime()); !inDamlRange(rt) {
			return nil, fmt.Errorf("ledger: offset checkpoint at offset %d has a record time %s %s", c.GetOffset(), rt.Format(time.RFC3339Nano), damlTimeRangeMsg)
		}
		if !StorableUpdateID(st.GetSynchronizerId()) {
			return nil, fmt.Errorf("ledger: offset checkpoint at offset %d has a synchronizer id %q of %d bytes that is not one a participant sends (at most %d bytes of text without control characters)",
				c.GetOffset(), truncate(st.GetSynchronizerId(), 64), len(st.GetSynchronizerId()), MaxUpdateIDLength)
		}
		out.SynchronizerTimes[i] = SynchronizerTime{SynchronizerID: st.GetSynchronizerId(), RecordTime: timeFromProto(st.GetRecordTime())}
	}
	return out, nil
}

// Proto converts the checkpoint to its wire form.
func (c *OffsetCheckpoint) Proto() *pb.OffsetCheckpoint {
	out := &pb.OffsetCheckpoint{Offset: c.Offset, SynchronizerTimes: make([]*pb.SynchronizerTime, len(c.SynchronizerTimes))}
	for i, st := range c.SynchronizerTimes {
		out.SynchronizerTimes[i] = &pb.SynchronizerTime{SynchronizerId: st.SynchronizerID, RecordTime: timeProto(st.RecordTime)}
	}
	return out
}

// ReviewJSON encodes a wire transaction for a review table's jsonb column:
// its protobuf JSON or, when that holds a NUL (the \u0000 escape, which
// jsonb refuses) or cannot be written (a timestamp beyond Daml's years 1 to
// 9999), {"protobuf_base64": ...}: the binary protobuf, still enough to
// process it again.
func ReviewJSON(t *pb.Transaction) ([]byte, error) {
	raw, err := protojson.Marshal(t)
	if err == nil && !bytes.Contains(raw, []byte(`\u0000`)) {
		return raw, nil
	}
	bin, err := proto.Marshal(t)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{"protobuf_base64": base64.StdEncoding.EncodeToString(bin)})
}

// UpdateFromProto converts one item of the update stream.
func UpdateFromProto(r *pb.GetUpdatesResponse) (Update, error) {
	switch u := r.GetUpdate().(type) {
	case *pb.GetUpdatesResponse_Transaction:
		tx, err := TransactionFromProto(u.Transaction)
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				de.Raw, _ = ReviewJSON(u.Transaction)
			}
			return Update{}, err
		}
		return Update{Kind: UpdateTransaction, Transaction: tx}, nil
	case *pb.GetUpdatesResponse_OffsetCheckpoint:
		cp, err := CheckpointFromProto(u.OffsetCheckpoint)
		if err != nil {
			return Update{}, err
		}
		return Update{Kind: UpdateCheckpoint, Checkpoint: cp}, nil
	case *pb.GetUpdatesResponse_Reassignment, *pb.GetUpdatesResponse_TopologyTransaction:
		return Update{Kind: UpdateOther}, nil
	default:
		return Update{}, ErrUnknownUpdateKind
	}
}
