package httpevtest_test

import (
	"net/http"

	"github.com/httpev/httpev"
)

// loginApp is the application the tests and examples drive: a login form
// that sets a cookie, a greeting for a logged-in user and an avatar
// upload. (A real application would sign its session cookie.)
func loginApp(users map[string]string) func(*httpev.CGI) {
	return func(c *httpev.CGI) {
		user := c.Cookie("user")
		switch c.Path() {
		case "/login":
			want, known := users[c.Param("user")]
			if c.Method() != http.MethodPost || !known || !httpev.SecureCompare(c.Param("password"), want) {
				c.Header(http.Header{"Status": {"401"}, "Content-Type": {"text/plain"}})
				c.Print("wrong user or password\n")
				return
			}
			_ = c.SetCookies(map[string]string{"user": c.Param("user")}, 0)
			c.Header(http.Header{"Status": {"303"}, "Location": {"/"}})
		case "/avatar":
			files := c.File("avatar")
			switch {
			case user == "":
				c.Header(http.Header{"Status": {"401"}})
				c.Print("log in first\n")
			case len(files) != 1:
				c.Header(http.Header{"Status": {"400"}})
				c.Print("send one avatar\n")
			default:
				c.Printf("%s uploaded %s (%d bytes)\n", user, files[0].Name(), files[0].Size())
			}
		default:
			if user == "" {
				c.Print(`<form method="post" action="/login"><input name="user"><input name="password" type="password"></form>` + "\n")
				return
			}
			c.Printf("hello %s\n", user)
		}
	}
}
