package ledger

import statuspb "google.golang.org/genproto/googleapis/rpc/status"

func statusProto(code int32, msg string) *statuspb.Status {
	return &statuspb.Status{Code: code, Message: msg}
}
