package ledgertest

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Canton hides the cause of security-sensitive errors from the client:
// UNAUTHENTICATED, PERMISSION_DENIED, INTERNAL and UNKNOWN come with the
// message "An error occurred. Please contact the operator and inquire about
// the request <correlation id> with tid <trace id>", a RequestInfo, and no
// ErrorInfo. StatusError, documented to build errors "the way a Canton
// participant reports one" for Intercept hooks, must not give a test an
// error id or a cause that production never sends (a client telling
// INTERNAL errors apart by their error id behaves differently in
// production).
func TestStatusErrorRedactsSecuritySensitiveErrors(t *testing.T) {
	redacted := regexp.MustCompile(`^An error occurred\. Please contact the operator and inquire about the request [0-9a-f]{8} with tid [0-9a-f]{16}$`)
	for _, code := range []codes.Code{codes.Unauthenticated, codes.PermissionDenied, codes.Internal, codes.Unknown} {
		t.Run(code.String(), func(t *testing.T) {
			st, ok := status.FromError(StatusError(code, "SOME_ERROR_ID", "the secret cause", map[string]string{"party": "alice"}))
			require.True(t, ok)
			require.Equal(t, code, st.Code())
			require.Regexp(t, redacted, st.Message())
			var requestInfo bool
			for _, d := range st.Details() {
				_, isInfo := d.(*errdetails.ErrorInfo)
				require.False(t, isInfo, "no ErrorInfo in %v", st)
				_, isRequest := d.(*errdetails.RequestInfo)
				requestInfo = requestInfo || isRequest
			}
			require.True(t, requestInfo, "a RequestInfo with the correlation id")
		})
	}
	t.Run("other codes keep id and cause", func(t *testing.T) {
		requireError(t, StatusError(codes.FailedPrecondition, "SOME_ERROR_ID", "the cause", nil), codes.FailedPrecondition, "SOME_ERROR_ID")
	})
}
