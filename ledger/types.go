package ledger

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Identifier names a Daml template, interface or data type.
type Identifier struct {
	// PackageID is a package id, or "#package-name" for a package-name reference.
	PackageID  string
	ModuleName string
	EntityName string
}

// String renders the identifier as "package:Module.Path:Entity".
func (id Identifier) String() string {
	return id.PackageID + ":" + id.ModuleName + ":" + id.EntityName
}

// ParseIdentifier parses "package:Module.Path:Entity" (the package may be a
// "#package-name" reference).
func ParseIdentifier(s string) (Identifier, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Identifier{}, fmt.Errorf("ledger: invalid identifier %q: want package:Module:Entity", s)
	}
	return Identifier{PackageID: parts[0], ModuleName: parts[1], EntityName: parts[2]}, nil
}

// MustParseIdentifier is ParseIdentifier for constants; it panics on a malformed literal.
func MustParseIdentifier(s string) Identifier {
	id, err := ParseIdentifier(s)
	if err != nil {
		panic(err)
	}
	return id
}

// IsPackageNameRef reports whether the package is given by name ("#name").
func (id Identifier) IsPackageNameRef() bool { return strings.HasPrefix(id.PackageID, "#") }

// SameEntity reports whether id and other name the same module and entity,
// ignoring the package (which differs between package versions and between a
// package id and a package-name reference).
func (id Identifier) SameEntity(other Identifier) bool {
	return id.ModuleName == other.ModuleName && id.EntityName == other.EntityName
}

// The token standard v1 interfaces that txhistory reads, by package-name reference.
var (
	HoldingInterface             = MustParseIdentifier("#splice-api-token-holding-v1:Splice.Api.Token.HoldingV1:Holding")
	TransferInstructionInterface = MustParseIdentifier("#splice-api-token-transfer-instruction-v1:Splice.Api.Token.TransferInstructionV1:TransferInstruction")
	TransferFactoryInterface     = MustParseIdentifier("#splice-api-token-transfer-instruction-v1:Splice.Api.Token.TransferInstructionV1:TransferFactory")
)

// TokenStandardInterfaces are the interfaces whose views the update stream
// asks for by default.
func TokenStandardInterfaces() []Identifier {
	return []Identifier{HoldingInterface, TransferInstructionInterface, TransferFactoryInterface}
}

// Event is one node of a transaction: a *CreatedEvent, *ArchivedEvent or *ExercisedEvent.
type Event interface {
	// Node is the event's node id within its transaction.
	Node() int32
	// Contract is the contract id the event is about.
	Contract() string
	// Template is the template of that contract.
	Template() Identifier
	isEvent()
}

// CreatedEvent is the creation of a contract.
type CreatedEvent struct {
	Offset           int64
	NodeID           int32
	ContractID       string
	TemplateID       Identifier
	PackageName      string
	ContractKey      Value
	CreateArguments  Value // a record
	CreatedEventBlob []byte
	InterfaceViews   []InterfaceView
	WitnessParties   []string
	Signatories      []string
	Observers        []string
	CreatedAt        time.Time
	ACSDelta         bool
}

// InterfaceView is the view of a created contract through one interface.
type InterfaceView struct {
	InterfaceID Identifier
	// StatusCode is the gRPC code of the view computation; 0 (OK) when the view is present.
	StatusCode              int32
	StatusMessage           string
	Value                   Value // a record; invalid when the view failed
	ImplementationPackageID string
}

// View returns the view of the given interface (matched by module and entity
// name, whatever the package), if the participant computed it.
func (e *CreatedEvent) View(iface Identifier) (InterfaceView, bool) {
	for _, v := range e.InterfaceViews {
		if v.InterfaceID.SameEntity(iface) {
			return v, true
		}
	}
	return InterfaceView{}, false
}

// ArchivedEvent is the archival of a contract (in an ACS-delta stream) ; in a
// ledger-effects stream archivals show as consuming exercises.
type ArchivedEvent struct {
	Offset                int64
	NodeID                int32
	ContractID            string
	TemplateID            Identifier
	PackageName           string
	WitnessParties        []string
	ImplementedInterfaces []Identifier
}

// ExercisedEvent is the exercise of a choice on a contract. Its sub-events are
// the nodes with ids in (NodeID, LastDescendantNodeID].
type ExercisedEvent struct {
	Offset                int64
	NodeID                int32
	ContractID            string
	TemplateID            Identifier
	InterfaceID           *Identifier // set when exercised through an interface
	Choice                string
	ChoiceArgument        Value
	ActingParties         []string
	Consuming             bool
	WitnessParties        []string
	LastDescendantNodeID  int32
	ExerciseResult        Value
	PackageName           string
	ImplementedInterfaces []Identifier
	ACSDelta              bool
}

func (e *CreatedEvent) Node() int32            { return e.NodeID }
func (e *CreatedEvent) Contract() string       { return e.ContractID }
func (e *CreatedEvent) Template() Identifier   { return e.TemplateID }
func (*CreatedEvent) isEvent()                 {}
func (e *ArchivedEvent) Node() int32           { return e.NodeID }
func (e *ArchivedEvent) Contract() string      { return e.ContractID }
func (e *ArchivedEvent) Template() Identifier  { return e.TemplateID }
func (*ArchivedEvent) isEvent()                {}
func (e *ExercisedEvent) Node() int32          { return e.NodeID }
func (e *ExercisedEvent) Contract() string     { return e.ContractID }
func (e *ExercisedEvent) Template() Identifier { return e.TemplateID }
func (*ExercisedEvent) isEvent()               {}

// Transaction is one transaction of the update stream.
type Transaction struct {
	UpdateID       string
	CommandID      string
	WorkflowID     string
	Offset         int64
	SynchronizerID string
	EffectiveAt    time.Time
	RecordTime     time.Time
	// Events in node id order as the participant sent them.
	Events []Event
}

// SynchronizerTime is the record time reached on one synchronizer.
type SynchronizerTime struct {
	SynchronizerID string
	RecordTime     time.Time
}

// OffsetCheckpoint says that everything up to Offset has been delivered, and
// which record time each synchronizer has reached.
type OffsetCheckpoint struct {
	Offset            int64
	SynchronizerTimes []SynchronizerTime
}

// UpdateKind tells which item an Update holds.
type UpdateKind uint8

const (
	UpdateTransaction UpdateKind = iota + 1
	UpdateCheckpoint
	// UpdateOther is a reassignment or topology transaction: txhistory reads
	// none of their fields.
	UpdateOther
)

// Update is one item of the update stream.
type Update struct {
	Kind        UpdateKind
	Transaction *Transaction      // for UpdateTransaction
	Checkpoint  *OffsetCheckpoint // for UpdateCheckpoint
}

// Offset returns the item's offset; 0 for UpdateOther, whose offset is not decoded.
func (u Update) Offset() int64 {
	switch u.Kind {
	case UpdateTransaction:
		return u.Transaction.Offset
	case UpdateCheckpoint:
		return u.Checkpoint.Offset
	}
	return 0
}

// isDecimalText reports whether s matches ^-?[0-9]+(\.[0-9]*)?$: Daml's
// Numeric.toString, which the participant uses, renders a Numeric 0 as "5.".
func isDecimalText(s string) bool {
	s = strings.TrimPrefix(s, "-")
	digits := func() int {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		s = s[n:]
		return n
	}
	if digits() == 0 {
		return false
	}
	if s == "" {
		return true
	}
	if s[0] != '.' {
		return false
	}
	s = s[1:]
	digits()
	return s == ""
}

// MaxNumericDigits is the most significant digits a Daml Numeric can have.
const MaxNumericDigits = 38

// MaxNumericScale is the most digits after the point a Daml Numeric can
// have (Numeric 37).
const MaxNumericScale = 37

// ParseDecimal parses a Daml numeric's text ("-12.3400000000") exactly,
// also as a participant renders a Numeric 0: "5." (Daml's Numeric.toString
// ends an integral value with the point). Exponents, blanks, signs other
// than a leading minus, no digit before the point, more than 38
// significant digits and more than 37 after the point are errors.
func ParseDecimal(s string) (decimal.Decimal, error) {
	if d, ok := parseShortDecimal(s); ok {
		return d, nil
	}
	if !isDecimalText(s) {
		return decimal.Decimal{}, &ValueError{Msg: fmt.Sprintf("malformed numeric %q", truncate(s, 64))}
	}
	if significantDigits(s) > MaxNumericDigits {
		return decimal.Decimal{}, &ValueError{Msg: fmt.Sprintf("numeric %q has more than %d digits", truncate(s, 64), MaxNumericDigits)}
	}
	if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > MaxNumericScale {
		return decimal.Decimal{}, &ValueError{Msg: fmt.Sprintf("numeric %q has more than %d digits after the point", truncate(s, 64), MaxNumericScale)}
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, &ValueError{Msg: err.Error()}
	}
	return d, nil
}

// maxShortDigits is the most digits whose number always fits an int64.
const maxShortDigits = 18

// parseShortDecimal parses well-formed decimal text (see isDecimalText) of at
// most maxShortDigits digits, sign and point aside: a ledger amount of scale
// 10 below 10^8. It checks and reads the text in one pass, without the
// copies decimal.NewFromString makes, and returns the Decimal that function
// returns for the text: the same coefficient, exponent and representation
// (TestParseShortDecimalAgrees). Anything else reports false, for
// ParseDecimal's general path to accept or explain.
func parseShortDecimal(s string) (decimal.Decimal, bool) {
	i, neg := 0, false
	if s != "" && s[0] == '-' {
		i, neg = 1, true
	}
	var coef int64
	digits, scale, point := 0, 0, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if digits++; digits > maxShortDigits {
				return decimal.Decimal{}, false
			}
			coef = coef*10 + int64(c-'0')
			if point {
				scale++
			}
		case c == '.' && !point && digits > 0:
			point = true
		default:
			return decimal.Decimal{}, false
		}
	}
	if digits == 0 {
		return decimal.Decimal{}, false
	}
	if neg {
		coef = -coef
	}
	return decimal.New(coef, int32(-scale)), true
}

// significantDigits counts the digits of a well-formed decimal text after
// its leading zeros.
func significantDigits(s string) int {
	n, leading := 0, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		if leading && c == '0' {
			continue
		}
		leading = false
		n++
	}
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
