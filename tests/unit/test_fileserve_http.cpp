/* SPDX-License-Identifier: BSD-3-Clause */
/* elastic-fileserve's request side (apps/elastic-fileserve/http.cpp): parsing, traversal,
 * ranges, opening below the root. No EAL, no network. */
#include <gtest/gtest.h>

#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "../../apps/elastic-fileserve/http.hpp"

using fileserve::parse_range;
using fileserve::parse_request;
using fileserve::request;

namespace {

int status_of(const std::string &head)
{
	request r;
	return parse_request(head, r);
}

} // namespace

TEST(FileserveHttp, HeadLength)
{
	EXPECT_EQ(fileserve::head_length("GET / HTTP/1.1\r\nHost: x\r\n"), 0u);
	EXPECT_EQ(fileserve::head_length("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET"), 27u);
}

TEST(FileserveHttp, ValidRequests)
{
	request r;
	ASSERT_EQ(parse_request("GET /a/b.txt?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", r), 0);
	EXPECT_EQ(r.path, "/a/b.txt");
	EXPECT_TRUE(r.keep_alive);
	EXPECT_FALSE(r.has_range);
	ASSERT_EQ(parse_request("HEAD /%41 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
				"Range: bytes=1-2\r\n\r\n", r), 0);
	EXPECT_EQ(r.meth, fileserve::method::head);
	EXPECT_EQ(r.path, "/A");
	EXPECT_FALSE(r.keep_alive);
	EXPECT_TRUE(r.has_range);
	EXPECT_EQ(r.range, "bytes=1-2");
	ASSERT_EQ(parse_request("GET / HTTP/1.0\r\n\r\n", r), 0);
	EXPECT_FALSE(r.keep_alive);
	ASSERT_EQ(parse_request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", r), 0);
	EXPECT_TRUE(r.keep_alive);
}

TEST(FileserveHttp, Refused)
{
	EXPECT_EQ(status_of("GARBAGE\r\n\r\n"), 400);
	EXPECT_EQ(status_of("GET / HTTP/1.1\r\n\r\n"), 400);            /* no Host */
	EXPECT_EQ(status_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 400);
	EXPECT_EQ(status_of("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
	EXPECT_EQ(status_of("GET x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);  /* not origin-form */
	EXPECT_EQ(status_of("GET /%4 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
	EXPECT_EQ(status_of("GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
	EXPECT_EQ(status_of(std::string("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n")), 400);
	EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n"), 400);
	EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n"), 400);
	EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"), 400);
	EXPECT_EQ(status_of("GET /../x HTTP/1.1\r\nHost: h\r\n\r\n"), 403);
	EXPECT_EQ(status_of("GET /a/.. HTTP/1.1\r\nHost: h\r\n\r\n"), 403);
	EXPECT_EQ(status_of("GET /%2e%2E/x HTTP/1.1\r\nHost: h\r\n\r\n"), 403);
	EXPECT_EQ(status_of("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n"), 403);
	EXPECT_EQ(status_of("GET /a%7f HTTP/1.1\r\nHost: h\r\n\r\n"), 403);
	EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
	std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
	for (int i = 0; i < 101; i++)
		many += "X-" + std::to_string(i) + ": v\r\n";
	EXPECT_EQ(status_of(many + "\r\n"), 431);
	/* "..." and "..x" are names, not parent references */
	EXPECT_EQ(status_of("GET /.../..x HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
}

TEST(FileserveHttp, Ranges)
{
	uint64_t a = 0, b = 0;
	EXPECT_EQ(parse_range("bytes=0-9", 100, a, b), 206);
	EXPECT_EQ(a, 0u);
	EXPECT_EQ(b, 9u);
	EXPECT_EQ(parse_range("bytes=90-200", 100, a, b), 206);
	EXPECT_EQ(b, 99u);
	EXPECT_EQ(parse_range("bytes=-10", 100, a, b), 206);
	EXPECT_EQ(a, 90u);
	EXPECT_EQ(parse_range("bytes=-1000", 100, a, b), 206);
	EXPECT_EQ(a, 0u);
	EXPECT_EQ(parse_range("bytes=50-", 100, a, b), 206);
	EXPECT_EQ(b, 99u);
	EXPECT_EQ(parse_range("bytes=100-", 100, a, b), 416);
	EXPECT_EQ(parse_range("bytes=-0", 100, a, b), 416);
	EXPECT_EQ(parse_range("bytes=0-1,5-6", 100, a, b), 200);
	EXPECT_EQ(parse_range("items=0-1", 100, a, b), 200);
	EXPECT_EQ(parse_range("bytes=5-1", 100, a, b), 200);
	EXPECT_EQ(parse_range("bytes=x-1", 100, a, b), 200);
}

TEST(FileserveHttp, OpenBelowTheRoot)
{
	char tmpl[] = "/tmp/fileserve-http-XXXXXX";
	ASSERT_NE(mkdtemp(tmpl), nullptr);
	std::string top = tmpl;
	ASSERT_EQ(mkdir((top + "/root").c_str(), 0755), 0);
	ASSERT_EQ(mkdir((top + "/root/d").c_str(), 0755), 0);
	int fd = open((top + "/root/f").c_str(), O_CREAT | O_WRONLY, 0644);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, "12345", 5), 5);
	close(fd);
	fd = open((top + "/secret").c_str(), O_CREAT | O_WRONLY, 0644);
	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_EQ(symlink("../secret", (top + "/root/out").c_str()), 0);
	ASSERT_EQ(symlink("f", (top + "/root/in").c_str()), 0);
	ASSERT_EQ(symlink(top.c_str(), (top + "/root/abs").c_str()), 0);
	int root = open((top + "/root").c_str(), O_RDONLY | O_DIRECTORY);
	ASSERT_GE(root, 0);
	uint64_t size = 0;
	int got = fileserve::open_below(root, top + "/root", "/f", size);
	ASSERT_GE(got, 0);
	EXPECT_EQ(size, 5u);
	close(got);
	got = fileserve::open_below(root, top + "/root", "//./in", size);
	ASSERT_GE(got, 0);
	close(got);
	EXPECT_EQ(fileserve::open_below(root, top + "/root", "/out", size), -403);
	EXPECT_EQ(fileserve::open_below(root, top + "/root", "/abs/secret", size), -403);
	EXPECT_EQ(fileserve::open_below(root, top + "/root", "/missing", size), -404);
	EXPECT_EQ(fileserve::open_below(root, top + "/root", "/d/", size), -404); /* no index */
	close(root);
	std::string cmd = "rm -rf " + top;
	EXPECT_EQ(std::system(cmd.c_str()), 0);
}
