/* SPDX-License-Identifier: BSD-3-Clause */
#include "http.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace fileserve {
namespace {

bool is_ctl(unsigned char c) noexcept
{
	return c < 0x20 || c == 0x7f;
}

/* RFC 9110 tchar: the bytes a header name or a method may have. */
bool is_tchar(unsigned char c) noexcept
{
	if (c >= '0' && c <= '9')
		return true;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool iequals(std::string_view a, std::string_view b) noexcept
{
	if (a.size() != b.size())
		return false;
	for (std::size_t i = 0; i < a.size(); i++)
		if ((a[i] | 0x20) != (b[i] | 0x20))
			return false;
	return true;
}

std::string_view trim(std::string_view s) noexcept
{
	while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
		s.remove_prefix(1);
	while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
		s.remove_suffix(1);
	return s;
}

/* Does a comma-separated header value hold @p token (case-insensitive)? */
bool has_token(std::string_view value, std::string_view token) noexcept
{
	while (!value.empty()) {
		std::size_t comma = value.find(',');
		std::string_view item = trim(value.substr(0, comma));
		if (iequals(item, token))
			return true;
		if (comma == std::string_view::npos)
			break;
		value.remove_prefix(comma + 1);
	}
	return false;
}

int hex(char c) noexcept
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = static_cast<char>(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decoded origin-form target -> path; 0, 400 (bad encoding) or 403 (NUL/control/".."). */
int decode_target(std::string_view target, std::string &path)
{
	std::size_t q = target.find('?');
	if (q != std::string_view::npos)
		target = target.substr(0, q);
	path.clear();
	for (std::size_t i = 0; i < target.size(); i++) {
		char c = target[i];
		if (c == '%') {
			if (i + 2 >= target.size())
				return 400; /* '%' needs two hex digits after it */
			int h = hex(target[i + 1]), l = hex(target[i + 2]);
			if (h < 0 || l < 0)
				return 400;
			c = static_cast<char>(h * 16 + l);
			i += 2;
		}
		if (is_ctl(static_cast<unsigned char>(c)))
			return 403; /* NUL and control bytes never name a file here */
		path.push_back(c);
	}
	/* A ".." segment (after decoding: "%2e%2e" is caught too) would climb out of the root. */
	std::size_t start = 0;
	while (start <= path.size()) {
		std::size_t slash = path.find('/', start);
		std::size_t end = slash == std::string::npos ? path.size() : slash;
		if (path.compare(start, end - start, "..") == 0 && end - start == 2)
			return 403;
		if (slash == std::string::npos)
			break;
		start = slash + 1;
	}
	return 0;
}

bool parse_u64(std::string_view s, std::uint64_t &v) noexcept
{
	if (s.empty() || s.size() > 19)
		return false;
	v = 0;
	for (char c : s) {
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + static_cast<std::uint64_t>(c - '0');
	}
	return true;
}

} // namespace

std::size_t head_length(std::string_view buf) noexcept
{
	std::size_t end = buf.find("\r\n\r\n");
	return end == std::string_view::npos ? 0 : end + 4;
}

int parse_request(std::string_view head, request &out)
{
	out = request{};
	std::size_t eol = head.find("\r\n");
	if (eol == std::string_view::npos)
		return 400;
	std::string_view line = head.substr(0, eol);
	head.remove_prefix(eol + 2);

	/* request-line = method SP request-target SP HTTP-version */
	std::size_t sp1 = line.find(' ');
	std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
	if (sp1 == 0 || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != line.npos)
		return 400;
	std::string_view meth = line.substr(0, sp1);
	std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
	std::string_view version = line.substr(sp2 + 1);
	for (char c : meth)
		if (!is_tchar(static_cast<unsigned char>(c)))
			return 400;
	/* Raw target bytes: visible ASCII only (a raw control byte or NUL is malformed). */
	if (target.empty())
		return 400;
	for (char c : target) {
		auto u = static_cast<unsigned char>(c);
		if (u <= 0x20 || u >= 0x7f)
			return 400;
	}
	bool http10;
	if (version == "HTTP/1.1")
		http10 = false;
	else if (version == "HTTP/1.0")
		http10 = true;
	else
		return 400;

	/* Headers */
	bool host = false, conn_close = false, conn_keep = false, body = false;
	std::size_t lines = 0;
	while (!head.empty()) {
		eol = head.find("\r\n");
		if (eol == std::string_view::npos)
			return 400;
		std::string_view h = head.substr(0, eol);
		head.remove_prefix(eol + 2);
		if (h.empty())
			break; /* the blank line ending the head */
		if (++lines > max_header_lines)
			return 431;
		std::size_t colon = h.find(':');
		if (colon == 0 || colon == std::string_view::npos)
			return 400; /* also obs-fold (a line starting with SP/HTAB): no colon first */
		std::string_view name = h.substr(0, colon);
		for (char c : name)
			if (!is_tchar(static_cast<unsigned char>(c)))
				return 400;
		std::string_view value = h.substr(colon + 1);
		for (char c : value)
			if (is_ctl(static_cast<unsigned char>(c)) && c != '\t')
				return 400;
		value = trim(value);
		if (iequals(name, "host")) {
			if (host)
				return 400; /* RFC 9112 3.2: more than one Host */
			host = true;
		} else if (iequals(name, "connection")) {
			conn_close = conn_close || has_token(value, "close");
			conn_keep = conn_keep || has_token(value, "keep-alive");
		} else if (iequals(name, "range")) {
			if (out.has_range)
				return 400;
			out.has_range = true;
			out.range.assign(value);
		} else if (iequals(name, "transfer-encoding")) {
			body = true;
		} else if (iequals(name, "content-length")) {
			std::uint64_t n;
			if (!parse_u64(value, n))
				return 400;
			body = body || n > 0;
		}
	}
	out.keep_alive = http10 ? (conn_keep && !conn_close) : !conn_close;

	if (meth == "GET")
		out.meth = method::get;
	else if (meth == "HEAD")
		out.meth = method::head;
	else
		return 405;
	if (!http10 && !host)
		return 400;
	if (body)
		return 400; /* GET and HEAD carry no body here: we would have to skip it */
	if (target.front() != '/')
		return 400; /* origin-form only */
	return decode_target(target, out.path);
}

int open_below(int root_fd, const std::string &root_real, std::string_view path,
	       std::uint64_t &size) noexcept
{
	std::string rel;
	/* Relative to the root: drop empty and "." segments (".." was refused by the parser). */
	std::size_t start = 0;
	while (start <= path.size()) {
		std::size_t slash = path.find('/', start);
		std::size_t end = slash == std::string_view::npos ? path.size() : slash;
		std::string_view seg = path.substr(start, end - start);
		if (!seg.empty() && seg != ".") {
			if (!rel.empty())
				rel.push_back('/');
			rel.append(seg);
		}
		if (slash == std::string_view::npos)
			break;
		start = slash + 1;
	}
	if (rel.empty())
		rel.push_back('.'); /* (not rel = ".": a false -Wrestrict of GCC 12) */

	for (int attempt = 0; attempt < 2; attempt++) {
		struct open_how how = {};
		how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		int fd = static_cast<int>(syscall(SYS_openat2, root_fd, rel.c_str(), &how,
						  sizeof(how)));
		if (fd < 0 && errno == ENOSYS) {
			/* No openat2 (Linux < 5.6): open, then check where it landed. */
			fd = openat(root_fd, rel.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
			if (fd >= 0) {
				char link[64], real[PATH_MAX];
				std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
				ssize_t n = readlink(link, real, sizeof(real) - 1);
				bool inside = n > 0;
				if (inside) {
					std::string_view r(real, static_cast<std::size_t>(n));
					inside = r == root_real ||
						 (r.substr(0, root_real.size()) == root_real &&
						  r.size() > root_real.size() &&
						  (root_real == "/" || r[root_real.size()] == '/'));
				}
				if (!inside) {
					close(fd);
					return -403;
				}
			}
		}
		if (fd < 0) {
			if (errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG)
				return -404;
			return -403; /* EXDEV: leaves the root; ELOOP, EACCES, ... */
		}
		struct stat st;
		if (fstat(fd, &st) != 0) {
			close(fd);
			return -403;
		}
		if (S_ISDIR(st.st_mode) && attempt == 0) {
			close(fd);
			rel += "/index.html";
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			close(fd);
			return S_ISDIR(st.st_mode) ? -404 : -403;
		}
		/* Back to blocking reads (O_NONBLOCK only kept a FIFO from stalling the open). */
		fcntl(fd, F_SETFL, O_RDONLY);
		size = static_cast<std::uint64_t>(st.st_size);
		return fd;
	}
	return -404;
}

int parse_range(std::string_view value, std::uint64_t size, std::uint64_t &first,
		std::uint64_t &last) noexcept
{
	if (value.substr(0, 6) != "bytes=")
		return 200;
	value.remove_prefix(6);
	if (value.find(',') != std::string_view::npos)
		return 200; /* several ranges: we send the whole file instead of multipart */
	value = trim(value);
	std::size_t dash = value.find('-');
	if (dash == std::string_view::npos)
		return 200;
	std::string_view a = value.substr(0, dash), b = value.substr(dash + 1);
	std::uint64_t x, y;
	if (a.empty()) { /* suffix: the last y bytes */
		if (!parse_u64(b, y))
			return 200;
		if (y == 0 || size == 0)
			return 416;
		first = y >= size ? 0 : size - y;
		last = size - 1;
		return 206;
	}
	if (!parse_u64(a, x))
		return 200;
	if (b.empty()) {
		y = UINT64_MAX;
	} else {
		if (!parse_u64(b, y))
			return 200;
		if (y < x)
			return 200; /* invalid range: ignored */
	}
	if (x >= size)
		return 416;
	first = x;
	last = y >= size ? size - 1 : y;
	return 206;
}

const char *reason(int status) noexcept
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

const char *content_type(std::string_view path) noexcept
{
	std::size_t dot = path.rfind('.');
	std::size_t slash = path.rfind('/');
	if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
		return "application/octet-stream";
	std::string_view ext = path.substr(dot + 1);
	if (iequals(ext, "html") || iequals(ext, "htm"))
		return "text/html";
	if (iequals(ext, "txt"))
		return "text/plain";
	if (iequals(ext, "css"))
		return "text/css";
	if (iequals(ext, "js"))
		return "text/javascript";
	if (iequals(ext, "json"))
		return "application/json";
	if (iequals(ext, "png"))
		return "image/png";
	if (iequals(ext, "jpg") || iequals(ext, "jpeg"))
		return "image/jpeg";
	return "application/octet-stream";
}

} // namespace fileserve
