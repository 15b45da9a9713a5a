// Package embedcheck holds tests that embed txhistory the way an exchange
// would, from the documented API only.
package embedcheck
