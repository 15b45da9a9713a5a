package ledger_test

// Wire compatibility with a real participant, checked against the field
// numbers and types of /work/shared/reference/ledger-api.md (Canton's own
// .proto files), not against this repository's .proto files: a field
// declared under another number or type would decode a participant's
// messages silently wrong, and every other test, built on the generated
// types, would agree with it.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/adminv30"
	pb "github.com/cantonx/txhistory/proto/gen/lapiv2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// referenceMessages is the reference's list of messages, field by field:
// "[repeated|optional] type name = number [oneof name]", a type being a
// scalar, "map<string, Msg>" or a message or enum name (in the message's
// package unless qualified). A message marked "..." may declare fewer
// fields than Canton's, never others.
var referenceMessages = map[string][]string{
	"com.daml.ledger.api.v2.GetLedgerEndRequest":            {},
	"com.daml.ledger.api.v2.GetLedgerEndResponse":           {"int64 offset = 1"},
	"com.daml.ledger.api.v2.GetLatestPrunedOffsetsRequest":  {},
	"com.daml.ledger.api.v2.GetLatestPrunedOffsetsResponse": {"int64 participant_pruned_up_to_inclusive = 1", "int64 all_divulged_contracts_pruned_up_to_inclusive = 2"},
	"com.daml.ledger.api.v2.GetUpdateByIdRequest":           {"string update_id = 1", "UpdateFormat update_format = 2"},
	"com.daml.ledger.api.v2.GetUpdateResponse": {
		"Transaction transaction = 1 oneof update", "Reassignment reassignment = 2 oneof update",
		"TopologyTransaction topology_transaction = 3 oneof update",
	},
	"com.daml.ledger.api.v2.GetUpdatesRequest": {
		"int64 begin_exclusive = 1", "optional int64 end_inclusive = 2", "UpdateFormat update_format = 5", "bool descending_order = 6",
	},
	"com.daml.ledger.api.v2.GetUpdatesResponse": {
		"Transaction transaction = 1 oneof update", "Reassignment reassignment = 2 oneof update",
		"OffsetCheckpoint offset_checkpoint = 3 oneof update", "TopologyTransaction topology_transaction = 4 oneof update",
	},
	"com.daml.ledger.api.v2.UpdateFormat": {
		"TransactionFormat include_transactions = 1", "ReassignmentFormat include_reassignments = 2", "TopologyFormat include_topology_events = 3",
	},
	"com.daml.ledger.api.v2.TransactionFormat": {"EventFormat event_format = 1", "TransactionShape transaction_shape = 2"},
	"com.daml.ledger.api.v2.EventFormat":       {"map<string, Filters> filters_by_party = 1", "Filters filters_for_any_party = 2", "bool verbose = 3"},
	"com.daml.ledger.api.v2.Filters":           {"repeated CumulativeFilter cumulative = 1"},
	"com.daml.ledger.api.v2.CumulativeFilter": {
		"WildcardFilter wildcard_filter = 1 oneof identifier_filter", "InterfaceFilter interface_filter = 2 oneof identifier_filter",
		"TemplateFilter template_filter = 3 oneof identifier_filter",
	},
	"com.daml.ledger.api.v2.WildcardFilter":  {"bool include_created_event_blob = 1"},
	"com.daml.ledger.api.v2.InterfaceFilter": {"Identifier interface_id = 1", "bool include_interface_view = 2", "bool include_created_event_blob = 3"},
	"com.daml.ledger.api.v2.TemplateFilter":  {"Identifier template_id = 1", "bool include_created_event_blob = 2"},
	"com.daml.ledger.api.v2.Transaction": {
		"...", "string update_id = 1", "string command_id = 2", "string workflow_id = 3", "google.protobuf.Timestamp effective_at = 4",
		"repeated Event events = 5", "int64 offset = 6", "string synchronizer_id = 7", "TraceContext trace_context = 8",
		"google.protobuf.Timestamp record_time = 9", "bytes external_transaction_hash = 10",
	},
	"com.daml.ledger.api.v2.Event": {
		"CreatedEvent created = 1 oneof event", "ArchivedEvent archived = 2 oneof event", "ExercisedEvent exercised = 3 oneof event",
	},
	"com.daml.ledger.api.v2.CreatedEvent": {
		"...", "int64 offset = 1", "int32 node_id = 2", "string contract_id = 3", "Identifier template_id = 4", "Value contract_key = 5",
		"Record create_arguments = 6", "bytes created_event_blob = 7", "repeated InterfaceView interface_views = 8",
		"repeated string witness_parties = 9", "repeated string signatories = 10", "repeated string observers = 11",
		"google.protobuf.Timestamp created_at = 12", "string package_name = 13", "bool acs_delta = 14",
	},
	"com.daml.ledger.api.v2.InterfaceView": {
		"Identifier interface_id = 1", "google.rpc.Status view_status = 2", "Record view_value = 3", "string implementation_package_id = 4",
	},
	"com.daml.ledger.api.v2.ArchivedEvent": {
		"int64 offset = 1", "int32 node_id = 2", "string contract_id = 3", "Identifier template_id = 4", "repeated string witness_parties = 5",
		"string package_name = 6", "repeated Identifier implemented_interfaces = 7",
	},
	"com.daml.ledger.api.v2.ExercisedEvent": {
		"int64 offset = 1", "int32 node_id = 2", "string contract_id = 3", "Identifier template_id = 4", "Identifier interface_id = 5",
		"string choice = 6", "Value choice_argument = 7", "repeated string acting_parties = 8", "bool consuming = 9",
		"repeated string witness_parties = 10", "int32 last_descendant_node_id = 11", "Value exercise_result = 12", "string package_name = 13",
		"repeated Identifier implemented_interfaces = 14", "bool acs_delta = 15",
	},
	"com.daml.ledger.api.v2.OffsetCheckpoint": {"int64 offset = 1", "repeated SynchronizerTime synchronizer_times = 2"},
	"com.daml.ledger.api.v2.SynchronizerTime": {"string synchronizer_id = 1", "google.protobuf.Timestamp record_time = 2"},
	"com.daml.ledger.api.v2.Identifier":       {"string package_id = 1", "string module_name = 2", "string entity_name = 3"},
	"com.daml.ledger.api.v2.Value": {
		"google.protobuf.Empty unit = 1 oneof sum", "bool bool = 2 oneof sum", "sint64 int64 = 3 oneof sum", "int32 date = 4 oneof sum",
		"sfixed64 timestamp = 5 oneof sum", "string numeric = 6 oneof sum", "string party = 7 oneof sum", "string text = 8 oneof sum",
		"string contract_id = 9 oneof sum", "Optional optional = 10 oneof sum", "List list = 11 oneof sum", "TextMap text_map = 12 oneof sum",
		"GenMap gen_map = 13 oneof sum", "Record record = 14 oneof sum", "Variant variant = 15 oneof sum", "Enum enum = 16 oneof sum",
	},
	"com.daml.ledger.api.v2.Record":        {"Identifier record_id = 1", "repeated RecordField fields = 2"},
	"com.daml.ledger.api.v2.RecordField":   {"string label = 1", "Value value = 2"},
	"com.daml.ledger.api.v2.Optional":      {"Value value = 1"},
	"com.daml.ledger.api.v2.List":          {"repeated Value elements = 1"},
	"com.daml.ledger.api.v2.TextMap":       {"repeated TextMap.Entry entries = 1"},
	"com.daml.ledger.api.v2.TextMap.Entry": {"string key = 1", "Value value = 2"},
	"com.daml.ledger.api.v2.GenMap":        {"repeated GenMap.Entry entries = 1"},
	"com.daml.ledger.api.v2.GenMap.Entry":  {"Value key = 1", "Value value = 2"},
	"com.daml.ledger.api.v2.Variant":       {"Identifier variant_id = 1", "string constructor = 2", "Value value = 3"},
	"com.daml.ledger.api.v2.Enum":          {"Identifier enum_id = 1", "string constructor = 2"},
	"com.digitalasset.canton.admin.participant.v30.GetHighestOffsetByTimestampRequest": {
		"string synchronizer_id = 1", "google.protobuf.Timestamp timestamp = 2", "bool force = 3",
	},
	"com.digitalasset.canton.admin.participant.v30.GetHighestOffsetByTimestampResponse": {"int64 ledger_offset = 1"},
}

// referenceMethods are the reference's gRPC methods: full name, request,
// response, server streaming.
var referenceMethods = []struct {
	name, req, resp string
	streaming       bool
}{
	{"com.daml.ledger.api.v2.UpdateService.GetUpdates", "GetUpdatesRequest", "GetUpdatesResponse", true},
	{"com.daml.ledger.api.v2.StateService.GetLedgerEnd", "GetLedgerEndRequest", "GetLedgerEndResponse", false},
	{"com.daml.ledger.api.v2.StateService.GetLatestPrunedOffsets", "GetLatestPrunedOffsetsRequest", "GetLatestPrunedOffsetsResponse", false},
	{"com.daml.ledger.api.v2.UpdateService.GetUpdateById", "GetUpdateByIdRequest", "GetUpdateResponse", false},
	{"com.digitalasset.canton.admin.participant.v30.PartyManagementService.GetHighestOffsetByTimestamp",
		"GetHighestOffsetByTimestampRequest", "GetHighestOffsetByTimestampResponse", false},
}

// The messages txhistory reads from the participant: each is declared with
// the reference's field names, numbers, types, cardinalities and oneofs,
// and declares no field the reference does not list.
func TestProtoFilesMatchTheReference(t *testing.T) {
	// Make sure the generated packages are registered.
	_ = []proto.Message{&pb.GetUpdatesResponse{}, &adminv30.GetHighestOffsetByTimestampResponse{}}
	for name, fields := range referenceMessages {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		require.NoError(t, err, "message %s of the reference is not declared", name)
		md, ok := d.(protoreflect.MessageDescriptor)
		require.True(t, ok, "%s is not a message", name)
		pkg := md.ParentFile().Package()
		partial := false
		declared := map[string]bool{}
		for _, spec := range fields {
			if spec == "..." {
				partial = true
				continue
			}
			words := strings.Fields(spec)
			card := protoreflect.Optional
			explicit := false
			switch words[0] {
			case "repeated":
				card, words = protoreflect.Repeated, words[1:]
			case "optional":
				explicit, words = true, words[1:]
			}
			typ := words[0]
			if strings.HasPrefix(typ, "map<") {
				typ, words = strings.Join(words[:2], " "), words[1:]
			}
			fname, num := words[1], words[3]
			oneof := ""
			if len(words) > 4 {
				oneof = words[5]
			}
			declared[fname] = true
			fd := md.Fields().ByName(protoreflect.Name(fname))
			if fd == nil {
				if name == "com.daml.ledger.api.v2.Transaction" && fname == "trace_context" {
					continue // not read: left to protobuf's unknown fields
				}
				t.Errorf("%s: field %s (%s) is not declared", name, fname, spec)
				continue
			}
			if got := fmt.Sprint(fd.Number()); got != num {
				t.Errorf("%s.%s: field number %s, the reference's is %s", name, fname, got, num)
			}
			if fd.IsMap() {
				card = protoreflect.Repeated
			}
			if fd.Cardinality() != card {
				t.Errorf("%s.%s: cardinality %v, the reference's is %v (%s)", name, fname, fd.Cardinality(), card, spec)
			}
			if fd.HasOptionalKeyword() != explicit {
				t.Errorf("%s.%s: optional keyword %t, the reference's %t", name, fname, fd.HasOptionalKeyword(), explicit)
			}
			gotOneof := ""
			if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
				gotOneof = string(o.Name())
			}
			if gotOneof != oneof {
				t.Errorf("%s.%s: in oneof %q, the reference's %q", name, fname, gotOneof, oneof)
			}
			if got, want := fieldType(fd), qualify(typ, pkg); got != want {
				t.Errorf("%s.%s: type %s, the reference's is %s", name, fname, got, want)
			}
		}
		if partial {
			continue
		}
		for i := 0; i < md.Fields().Len(); i++ {
			if fd := md.Fields().Get(i); !declared[string(fd.Name())] {
				t.Errorf("%s declares field %s = %d, which the reference does not list", name, fd.Name(), fd.Number())
			}
		}
	}
	for name, fields := range referenceMessages {
		if len(fields) > 0 && fields[0] == "..." {
			d, _ := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
			md := d.(protoreflect.MessageDescriptor)
			listed := strings.Join(fields, ";")
			for i := 0; i < md.Fields().Len(); i++ {
				fd := md.Fields().Get(i)
				require.Contains(t, listed, fmt.Sprintf(" %s = %d", fd.Name(), fd.Number()), "%s declares a field the reference does not list", name)
			}
		}
	}

	shape, err := protoregistry.GlobalTypes.FindEnumByName("com.daml.ledger.api.v2.TransactionShape")
	require.NoError(t, err)
	for n, v := range map[string]protoreflect.EnumNumber{
		"TRANSACTION_SHAPE_UNSPECIFIED": 0, "TRANSACTION_SHAPE_ACS_DELTA": 1, "TRANSACTION_SHAPE_LEDGER_EFFECTS": 2,
	} {
		ev := shape.Descriptor().Values().ByName(protoreflect.Name(n))
		require.NotNil(t, ev, n)
		require.Equal(t, v, ev.Number(), n)
	}

	for _, m := range referenceMethods {
		i := strings.LastIndex(m.name, ".")
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(m.name[:i]))
		require.NoError(t, err, "service of %s", m.name)
		sd := d.(protoreflect.ServiceDescriptor)
		md := sd.Methods().ByName(protoreflect.Name(m.name[i+1:]))
		require.NotNil(t, md, m.name)
		pkg := sd.ParentFile().Package()
		require.Equal(t, qualify(m.req, pkg), string(md.Input().FullName()), m.name)
		require.Equal(t, qualify(m.resp, pkg), string(md.Output().FullName()), m.name)
		require.Equal(t, m.streaming, md.IsStreamingServer(), m.name)
		require.False(t, md.IsStreamingClient(), m.name)
	}
}

// fieldType names a field's type as referenceMessages does, qualified.
func fieldType(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return fmt.Sprintf("map<%s, %s>", fieldType(fd.MapKey()), fieldType(fd.MapValue()))
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(fd.Message().FullName())
	case protoreflect.EnumKind:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

func qualify(typ string, pkg protoreflect.FullName) string {
	if strings.HasPrefix(typ, "map<") {
		kv := strings.SplitN(strings.TrimSuffix(strings.TrimPrefix(typ, "map<"), ">"), ", ", 2)
		return fmt.Sprintf("map<%s, %s>", qualify(kv[0], pkg), qualify(kv[1], pkg))
	}
	switch typ {
	case "int64", "int32", "sint64", "sfixed64", "string", "bool", "bytes":
		return typ
	}
	if strings.Contains(typ, ".") && !strings.HasPrefix(typ, "TextMap.") && !strings.HasPrefix(typ, "GenMap.") {
		return typ
	}
	return string(pkg) + "." + typ
}

// w builds protobuf wire bytes by hand, with the reference's numbers.
type w []byte

func (b w) str(n protowire.Number, s string) w {
	return protowire.AppendString(protowire.AppendTag(b, n, protowire.BytesType), s)
}
func (b w) msg(n protowire.Number, m w) w {
	return protowire.AppendBytes(protowire.AppendTag(b, n, protowire.BytesType), m)
}
func (b w) varint(n protowire.Number, v uint64) w {
	return protowire.AppendVarint(protowire.AppendTag(b, n, protowire.VarintType), v)
}
func (b w) fixed64(n protowire.Number, v uint64) w {
	return protowire.AppendFixed64(protowire.AppendTag(b, n, protowire.Fixed64Type), v)
}
func (b w) fixed32(n protowire.Number, v uint32) w {
	return protowire.AppendFixed32(protowire.AppendTag(b, n, protowire.Fixed32Type), v)
}

// A participant's messages, encoded by hand with the reference's numbers
// (and fields and update kinds of a newer participant that this
// repository does not declare), decode to what the participant meant,
// through the generated types and through the update stream's decoder.
func TestHandEncodedParticipantMessagesDecode(t *testing.T) {
	const sec = 1_767_225_600 // 2026-01-01T00:00:00Z
	at := time.Unix(sec, 123_456_000).UTC()
	ts := w(nil).varint(1, sec).varint(2, 123_456_000)
	id := func(pkg, mod, ent string) w { return w(nil).str(1, pkg).str(2, mod).str(3, ent) }
	holding := id("#splice-api-token-holding-v1", "Splice.Api.Token.HoldingV1", "Holding")
	field := func(label string, v w) w { return w(nil).str(1, label).msg(2, v) }
	args := w(nil).msg(1, id("pkgA", "Tok", "Holding")).
		msg(2, field("owner", w(nil).str(7, "treasury::1220"))).
		msg(2, field("amount", w(nil).str(6, "12.5000000000"))).
		msg(2, field("lock", w(nil).msg(10, nil))).                                                          // None
		msg(2, field("meta", w(nil).msg(12, w(nil).msg(1, w(nil).str(1, "k").msg(2, w(nil).str(8, "v")))))). // TextMap
		msg(2, field("n", w(nil).varint(3, protowire.EncodeZigZag(-3)))).
		msg(2, field("day", w(nil).varint(4, 20454))).
		msg(2, field("at", w(nil).fixed64(5, uint64(at.UnixMicro())))).
		msg(2, field("flag", w(nil).varint(2, 1))).
		msg(2, field("cid", w(nil).str(9, "00cid"))).
		msg(2, field("list", w(nil).msg(11, w(nil).msg(1, w(nil).msg(1, nil))))). // [()]
		msg(2, field("kind", w(nil).msg(16, w(nil).msg(1, id("pkgA", "Tok", "Kind")).str(2, "Fungible")))).
		msg(2, field("choice", w(nil).msg(15, w(nil).msg(1, id("pkgA", "Tok", "V")).str(2, "Some").msg(3, w(nil).str(8, "x")))))
	view := w(nil).msg(1, holding).msg(2, w(nil).varint(1, 0)).msg(3, w(nil).msg(2, field("owner", w(nil).str(7, "treasury::1220")))).str(4, "pkgA").
		str(9, "newer view field")
	created := w(nil).varint(1, 42).varint(2, 0).str(3, "00cid").msg(4, id("pkgA", "Tok", "Holding")).msg(6, args).
		msg(8, view).str(9, "treasury::1220").str(10, "issuer::1220").str(11, "treasury::1220").msg(12, ts).str(13, "tok").varint(14, 1).
		str(15, "representative package id of a newer participant").fixed32(99, 7)
	exercised := w(nil).varint(1, 42).varint(2, 1).str(3, "00old").msg(4, id("pkgA", "Tok", "Holding")).msg(5, holding).str(6, "Transfer").
		msg(7, w(nil).msg(14, w(nil).msg(2, field("amount", w(nil).str(6, "1.0"))))).str(8, "treasury::1220").varint(9, 1).
		str(10, "treasury::1220").varint(11, 2).msg(12, w(nil).msg(1, nil)).str(13, "tok").msg(14, holding).varint(15, 1).varint(16, 5)
	archived := w(nil).varint(1, 42).varint(2, 2).str(3, "00old2").msg(4, id("pkgA", "Tok", "Holding")).str(5, "treasury::1220").
		str(6, "tok").msg(7, holding).fixed64(8, 1)
	tx := w(nil).str(1, "1220update").str(2, "cmd-1").str(3, "wf-1").msg(4, ts).
		msg(5, w(nil).msg(1, created)).msg(5, w(nil).msg(3, exercised)).msg(5, w(nil).msg(2, archived)).
		varint(6, 42).str(7, "global-domain::1220").msg(8, w(nil).str(1, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")).
		msg(9, ts).str(10, "hash").varint(11, 1000) // paid traffic cost: a field of a newer participant

	checkTx := func(t *testing.T, got *ledger.Transaction) {
		t.Helper()
		require.Equal(t, "1220update", got.UpdateID)
		require.Equal(t, "cmd-1", got.CommandID)
		require.Equal(t, "wf-1", got.WorkflowID)
		require.Equal(t, int64(42), got.Offset)
		require.Equal(t, "global-domain::1220", got.SynchronizerID)
		require.True(t, at.Equal(got.RecordTime), "record time %s", got.RecordTime)
		require.True(t, at.Equal(got.EffectiveAt), "effective at %s", got.EffectiveAt)
		require.Len(t, got.Events, 3)

		c, ok := got.Events[0].(*ledger.CreatedEvent)
		require.True(t, ok, "%T", got.Events[0])
		require.Equal(t, int64(42), c.Offset)
		require.Equal(t, "00cid", c.ContractID)
		require.Equal(t, ledger.Identifier{PackageID: "pkgA", ModuleName: "Tok", EntityName: "Holding"}, c.TemplateID)
		require.Equal(t, []string{"treasury::1220"}, c.WitnessParties)
		require.Equal(t, []string{"issuer::1220"}, c.Signatories)
		require.Equal(t, []string{"treasury::1220"}, c.Observers)
		require.True(t, at.Equal(c.CreatedAt))
		require.Equal(t, "tok", c.PackageName)
		require.True(t, c.ACSDelta)
		owner, err := c.CreateArguments.Get("owner")
		require.NoError(t, err)
		p, err := owner.AsParty()
		require.NoError(t, err)
		require.Equal(t, "treasury::1220", p)
		amount, err := c.CreateArguments.Get("amount")
		require.NoError(t, err)
		a, err := amount.AsNumeric()
		require.NoError(t, err)
		require.Equal(t, "12.5000000000", a)
		n, err := c.CreateArguments.Get("n")
		require.NoError(t, err)
		i, err := n.AsInt64()
		require.NoError(t, err)
		require.Equal(t, int64(-3), i)
		day, err := c.CreateArguments.Get("day")
		require.NoError(t, err)
		d, err := day.AsDate()
		require.NoError(t, err)
		require.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), d)
		when, err := c.CreateArguments.Get("at")
		require.NoError(t, err)
		tm, err := when.AsTimestamp()
		require.NoError(t, err)
		require.True(t, at.Equal(tm), "timestamp %s", tm)
		for label, kind := range map[string]ledger.Kind{"lock": ledger.KindOptional, "meta": ledger.KindTextMap, "flag": ledger.KindBool,
			"cid": ledger.KindContractID, "list": ledger.KindList, "kind": ledger.KindEnum, "choice": ledger.KindVariant} {
			v, err := c.CreateArguments.Get(label)
			require.NoError(t, err)
			require.Equal(t, kind, v.Kind(), label)
		}
		require.Len(t, c.InterfaceViews, 1)
		require.Equal(t, ledger.HoldingInterface, c.InterfaceViews[0].InterfaceID)
		require.Equal(t, "pkgA", c.InterfaceViews[0].ImplementationPackageID)
		require.Equal(t, int32(0), c.InterfaceViews[0].StatusCode)

		x, ok := got.Events[1].(*ledger.ExercisedEvent)
		require.True(t, ok, "%T", got.Events[1])
		require.Equal(t, int32(1), x.NodeID)
		require.Equal(t, "00old", x.ContractID)
		require.NotNil(t, x.InterfaceID)
		require.Equal(t, ledger.HoldingInterface, *x.InterfaceID)
		require.Equal(t, "Transfer", x.Choice)
		require.Equal(t, []string{"treasury::1220"}, x.ActingParties)
		require.True(t, x.Consuming)
		require.Equal(t, []string{"treasury::1220"}, x.WitnessParties)
		require.Equal(t, int32(2), x.LastDescendantNodeID)
		require.Equal(t, ledger.KindUnit, x.ExerciseResult.Kind())
		require.Equal(t, ledger.KindRecord, x.ChoiceArgument.Kind())
		require.Equal(t, "tok", x.PackageName)
		require.Equal(t, []ledger.Identifier{ledger.HoldingInterface}, x.ImplementedInterfaces)
		require.True(t, x.ACSDelta)

		ar, ok := got.Events[2].(*ledger.ArchivedEvent)
		require.True(t, ok, "%T", got.Events[2])
		require.Equal(t, int32(2), ar.NodeID)
		require.Equal(t, "00old2", ar.ContractID)
		require.Equal(t, []string{"treasury::1220"}, ar.WitnessParties)
		require.Equal(t, "tok", ar.PackageName)
		require.Equal(t, []ledger.Identifier{ledger.HoldingInterface}, ar.ImplementedInterfaces)
	}

	t.Run("GetUpdatesResponse transaction", func(t *testing.T) {
		b := w(nil).msg(1, tx)
		u, unmarshalErr, err, _ := ledger.DecodeWire(b)
		require.NoError(t, unmarshalErr)
		require.NoError(t, err)
		require.Equal(t, ledger.UpdateTransaction, u.Kind)
		checkTx(t, u.Transaction)
		requireSame(t, b)
	})
	t.Run("GetUpdatesResponse checkpoint", func(t *testing.T) {
		b := w(nil).msg(3, w(nil).varint(1, 43).msg(2, w(nil).str(1, "global-domain::1220").msg(2, ts)).
			msg(2, w(nil).str(1, "other::1220").msg(2, w(nil).varint(1, sec+1))).varint(3, 9))
		u, unmarshalErr, err, _ := ledger.DecodeWire(b)
		require.NoError(t, unmarshalErr)
		require.NoError(t, err)
		require.Equal(t, ledger.UpdateCheckpoint, u.Kind)
		require.Equal(t, int64(43), u.Checkpoint.Offset)
		require.Len(t, u.Checkpoint.SynchronizerTimes, 2)
		require.Equal(t, "global-domain::1220", u.Checkpoint.SynchronizerTimes[0].SynchronizerID)
		require.True(t, at.Equal(u.Checkpoint.SynchronizerTimes[0].RecordTime))
		require.Equal(t, "other::1220", u.Checkpoint.SynchronizerTimes[1].SynchronizerID)
		require.True(t, time.Unix(sec+1, 0).Equal(u.Checkpoint.SynchronizerTimes[1].RecordTime))
		requireSame(t, b)
	})
	t.Run("GetUpdatesResponse reassignment and topology transaction", func(t *testing.T) {
		for _, n := range []protowire.Number{2, 4} {
			b := w(nil).msg(n, w(nil).str(1, "1220other").varint(5, 44))
			u, unmarshalErr, err, _ := ledger.DecodeWire(b)
			require.NoError(t, unmarshalErr)
			require.NoError(t, err)
			require.Equal(t, ledger.UpdateOther, u.Kind, "field %d", n)
		}
	})
	t.Run("GetUpdateResponse", func(t *testing.T) {
		var r pb.GetUpdateResponse
		require.NoError(t, proto.Unmarshal(w(nil).msg(1, tx), &r))
		got, err := ledger.TransactionFromProto(r.GetTransaction())
		require.NoError(t, err)
		checkTx(t, got)
		require.NoError(t, proto.Unmarshal(w(nil).msg(3, w(nil).str(1, "topo")), &r))
		require.Nil(t, r.GetTransaction())
		require.NotNil(t, r.GetTopologyTransaction())
	})
	t.Run("GetLedgerEnd, GetLatestPrunedOffsets, GetHighestOffsetByTimestamp", func(t *testing.T) {
		var end pb.GetLedgerEndResponse
		require.NoError(t, proto.Unmarshal(w(nil).varint(1, 77).varint(2, 1), &end))
		require.Equal(t, int64(77), end.GetOffset())
		var pruned pb.GetLatestPrunedOffsetsResponse
		require.NoError(t, proto.Unmarshal(w(nil).varint(1, 10).varint(2, 8), &pruned))
		require.Equal(t, int64(10), pruned.GetParticipantPrunedUpToInclusive())
		require.Equal(t, int64(8), pruned.GetAllDivulgedContractsPrunedUpToInclusive())
		var off adminv30.GetHighestOffsetByTimestampResponse
		require.NoError(t, proto.Unmarshal(w(nil).varint(1, 55), &off))
		require.Equal(t, int64(55), off.GetLedgerOffset())
	})
}

// The requests txhistory sends carry the reference's numbers: read back
// by hand from their encoding.
func TestRequestsUseTheReferenceNumbers(t *testing.T) {
	type fieldOf = map[protowire.Number][]byte
	read := func(t *testing.T, b []byte) (fieldOf, map[protowire.Number]uint64) {
		t.Helper()
		msgs, ints := fieldOf{}, map[protowire.Number]uint64{}
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			require.GreaterOrEqual(t, n, 0)
			b = b[n:]
			switch typ {
			case protowire.VarintType:
				v, n := protowire.ConsumeVarint(b)
				require.GreaterOrEqual(t, n, 0)
				ints[num], b = v, b[n:]
			case protowire.BytesType:
				v, n := protowire.ConsumeBytes(b)
				require.GreaterOrEqual(t, n, 0)
				if _, seen := msgs[num]; !seen { // a repeated field: its first
					msgs[num] = v
				}
				b = b[n:]
			default:
				t.Fatalf("field %d: wire type %d", num, typ)
			}
		}
		return msgs, ints
	}
	req := ledger.UpdatesRequest{BeginExclusive: 7, EndInclusive: 9, Filter: ledger.Filter{Parties: []string{"treasury::1220"}}}
	b, err := proto.Marshal(req.Proto())
	require.NoError(t, err)
	msgs, ints := read(t, b)
	require.Equal(t, uint64(7), ints[1], "begin_exclusive")
	require.Equal(t, uint64(9), ints[2], "end_inclusive")
	require.NotContains(t, msgs, protowire.Number(3), "the filter field removed in 3.4")
	require.NotContains(t, ints, protowire.Number(4), "the verbose field removed in 3.4")
	uf, _ := read(t, msgs[5])              // update_format
	tf, tfInts := read(t, uf[1])           // include_transactions
	require.Equal(t, uint64(2), tfInts[2]) // TRANSACTION_SHAPE_LEDGER_EFFECTS
	ef, efInts := read(t, tf[1])           // event_format
	require.Equal(t, uint64(1), efInts[3]) // verbose
	entry, _ := read(t, ef[1])             // filters_by_party
	require.Equal(t, "treasury::1220", string(entry[1]))
	filters, _ := read(t, entry[2])
	cumulative, _ := read(t, filters[1]) // the first one: the wildcard
	require.Contains(t, cumulative, protowire.Number(1), "wildcard_filter")

	b, err = proto.Marshal(&pb.GetUpdateByIdRequest{UpdateId: "1220u", UpdateFormat: req.Filter.UpdateFormat()})
	require.NoError(t, err)
	msgs, _ = read(t, b)
	require.Equal(t, "1220u", string(msgs[1]))
	require.Contains(t, msgs, protowire.Number(2), "update_format")

	b, err = proto.Marshal(&adminv30.GetHighestOffsetByTimestampRequest{SynchronizerId: "s::1", Timestamp: nil, Force: true})
	require.NoError(t, err)
	msgs, ints = read(t, b)
	require.Equal(t, "s::1", string(msgs[1]))
	require.Equal(t, uint64(1), ints[3], "force")
}
