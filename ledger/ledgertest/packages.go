package ledgertest

import (
	"slices"
	"strings"
	"sync"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
)

// standInNames maps the package ids of the token standard's and
// TokenWorld's stand-in packages (SHA-256 hashes of their names) to their
// names, for every Participant.
var standInNames sync.Map // id → name

func registerPackageName(id, name string) { storeName(&standInNames, id, name) }

// storeName records in m that package id is named name, if both are given
// and id is an id (not a "#name" reference).
func storeName(m *sync.Map, id, name string) {
	if id != "" && name != "" && !strings.HasPrefix(id, "#") {
		m.Store(id, name)
	}
}

// packageNames maps the package ids one Participant has seen to their
// package names: the template package of each appended event that names
// its package, over the stand-in ids. Tests name packages freely ("pkg1"),
// so what one Participant learnt must not change another's filters.
type packageNames struct{ m sync.Map }

// register records the package names the events of tx give.
func (n *packageNames) register(tx *ledger.Transaction) {
	for _, ev := range tx.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			storeName(&n.m, e.TemplateID.PackageID, e.PackageName)
		case *ledger.ExercisedEvent:
			storeName(&n.m, e.TemplateID.PackageID, e.PackageName)
		case *ledger.ArchivedEvent:
			storeName(&n.m, e.TemplateID.PackageID, e.PackageName)
		}
	}
}

// name returns the name of package id, if known.
func (n *packageNames) name(id string) (string, bool) {
	if n != nil {
		if v, ok := n.m.Load(id); ok {
			return v.(string), true
		}
	}
	v, ok := standInNames.Load(id)
	if !ok {
		return "", false
	}
	return v.(string), true
}

// samePackage reports whether an event's package (an id, or "#name") may be
// the filter's: the same id, or the same name, as a participant resolves a
// filter's package id to its package name (every version of the package).
// A package id whose name the fake does not know is not told apart from a
// name; two different ids it cannot both name are two packages.
func (n *packageNames) samePackage(filter, event string) bool {
	if filter == event || filter == "" || event == "" {
		return true
	}
	fName, fRef := strings.CutPrefix(filter, "#")
	eName, eRef := strings.CutPrefix(event, "#")
	switch {
	case fRef && eRef:
		return fName == eName
	case fRef:
		name, ok := n.name(event)
		return !ok || name == fName
	case eRef:
		name, ok := n.name(filter)
		return !ok || name == eName
	}
	fName, fOK := n.name(filter)
	eName, eOK := n.name(event)
	return fOK && eOK && fName == eName
}

// sameID reports whether an event's template or interface id is the
// filter's: module, entity and package.
func (n *packageNames) sameID(filter, event *lapiv2.Identifier) bool {
	return filter.GetModuleName() == event.GetModuleName() && filter.GetEntityName() == event.GetEntityName() &&
		n.samePackage(filter.GetPackageId(), event.GetPackageId())
}

// contractParties maps the contracts one Participant was given the create
// of (Append's created events that name their signatories) to their
// stakeholders, signatories and observers: the parties whose ACS a
// contract's archive changes, which an exercise or archive event does not
// name.
type contractParties struct{ m sync.Map } // contract id → []string

// register records the stakeholders of the contracts tx creates.
func (c *contractParties) register(tx *ledger.Transaction) {
	for _, ev := range tx.Events {
		if e, ok := ev.(*ledger.CreatedEvent); ok && e.ContractID != "" && len(e.Signatories) > 0 {
			c.m.Store(e.ContractID, slices.Concat(e.Signatories, e.Observers))
		}
	}
}

// stakeholders returns the stakeholders of contract cid, if known.
func (c *contractParties) stakeholders(cid string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.m.Load(cid)
	if !ok {
		return nil, false
	}
	return v.([]string), true
}
