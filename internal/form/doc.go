// Package form decodes the name/value data a CGI-style request carries — the
// query string, an application/x-www-form-urlencoded body and the Cookie
// header — into UTF-8 [Pair] lists, and formats Set-Cookie values.
//
// The package exists because net/url and net/http do not fit the request
// object httpev builds:
//
//   - Every name and value comes out as valid UTF-8. HTTP::Server::EV, which
//     httpev ports, decodes bytes that are not UTF-8 as a configured legacy
//     charset (cp1251 in the original), because old pages and old browsers
//     still submit forms in the page's charset. [Decoder.Legacy] keeps that
//     rule; without it invalid bytes become U+FFFD.
//   - Hostile input is bounded before memory is spent on it: a field count and
//     per-name and per-value lengths ([ErrTooManyFields], [ErrNameTooLong],
//     [ErrValueTooLong]) are checked in a first scan that allocates nothing,
//     so a 10 MB value fails without a 10 MB string ever being built.
//   - Decoding is cheap enough to run lazily on first use: one call makes one
//     allocation for all of its strings (names and values are slices of a
//     single backing string), plus growth of the caller's dst slice, which
//     the caller may reuse. The price is that keeping any one string keeps the
//     whole decoded input alive, which is at most as large as the raw input.
//   - It is forgiving where browsers and CGI.pm are: a malformed escape such
//     as "%zz" is kept literally instead of failing the whole request, and
//     order and duplicates are preserved (a map would lose both).
//
// A [Decoder] holds only settings, so one value per server is shared by all
// connections without locking.
package form
