package ledgertest

import (
	"strings"
	"sync"

	"github.com/cantonx/txhistory/ledger"
	"github.com/cantonx/txhistory/proto/gen/lapiv2"
)

// packageNames maps the package ids the fake has seen to their package
// names: the token standard's and TokenWorld's stand-in ids, and the
// template package of each appended event that names its package. Package
// ids are content hashes, so one map serves every Participant.
var packageNames sync.Map // id → name

func registerPackageName(id, name string) {
	if id != "" && name != "" && !strings.HasPrefix(id, "#") {
		packageNames.Store(id, name)
	}
}

// registerPackages records the package names the events of tx give.
func registerPackages(tx *ledger.Transaction) {
	for _, ev := range tx.Events {
		switch e := ev.(type) {
		case *ledger.CreatedEvent:
			registerPackageName(e.TemplateID.PackageID, e.PackageName)
		case *ledger.ExercisedEvent:
			registerPackageName(e.TemplateID.PackageID, e.PackageName)
		case *ledger.ArchivedEvent:
			registerPackageName(e.TemplateID.PackageID, e.PackageName)
		}
	}
}

// samePackage reports whether an event's package (an id, or "#name") may be
// the filter's: the same id, or the same name. Two different ids are two
// packages. A package id whose name the fake does not know is not told apart
// from a name.
func samePackage(filter, event string) bool {
	if filter == event || filter == "" || event == "" {
		return true
	}
	fName, fRef := strings.CutPrefix(filter, "#")
	eName, eRef := strings.CutPrefix(event, "#")
	switch {
	case fRef && eRef:
		return fName == eName
	case fRef:
		n, ok := packageNames.Load(event)
		return !ok || n.(string) == fName
	case eRef:
		n, ok := packageNames.Load(filter)
		return !ok || n.(string) == eName
	}
	return false
}

// sameID reports whether an event's template or interface id is the
// filter's: module, entity and package.
func sameID(filter, event *lapiv2.Identifier) bool {
	return filter.GetModuleName() == event.GetModuleName() && filter.GetEntityName() == event.GetEntityName() &&
		samePackage(filter.GetPackageId(), event.GetPackageId())
}
