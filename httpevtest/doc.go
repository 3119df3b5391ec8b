// Package httpevtest runs httpev request callbacks in unit tests without
// opening a port, as net/http/httptest does for http.Handlers.
//
// A Harness serves one callback through a real httpev.Server, connected in
// memory: requests built with httptest.NewRequest, NewForm or NewMultipart
// go through the same parser, limits, upload streaming and OnFile*
// callbacks as on a socket, and each Result holds the status, headers and
// body, plus a copy of every file the callback received (its temp file is
// gone by the time the test looks). Table-driven tests of an application's
// callback need nothing else:
//
//	h := httpevtest.New(t, app)
//	for _, tc := range cases {
//		res := h.Do(httpevtest.NewForm("/login", tc.form))
//		assert.Equal(t, tc.status, res.Status)
//	}
//
// For end-to-end tests of a server an application builds itself (handler
// tables, several listeners, Stop and Start), a Listener is an in-memory
// net.Listener to pass to Server.Listen, with a Client that dials it.
package httpevtest
