/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * elastic-fileserve's HTTP/1.1 request side: finding the end of a request head, parsing it,
 * mapping its target to a file below the root (refusing traversal), the Range header, and the
 * response head. Pure functions over bytes and file descriptors: no DPDK, no lwIP.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fileserve {

/** Most header lines a request may carry (more: 431). */
inline constexpr std::size_t max_header_lines = 100;

enum class method { get, head };

/** A parsed request head. */
struct request {
	method meth = method::get;
	std::string path;       /**< percent-decoded target path, without the query */
	bool keep_alive = true; /**< HTTP/1.1 default, "Connection: close" or 1.0 turn it off */
	bool has_range = false;
	std::string range;      /**< the Range header's value */
};

/**
 * Length of the request head at the start of @p buf, "\r\n\r\n" included, or 0 when the head is
 * not complete yet.
 */
std::size_t head_length(std::string_view buf) noexcept;

/**
 * Parse a complete request head.
 * @return 0, or the HTTP status to answer with: 400 (malformed: request line, header syntax,
 *   control bytes, percent-encoding, missing Host in 1.1, a request body), 403 (the decoded
 *   target has a ".." segment, a NUL or another control byte), 405 (a method other than GET or
 *   HEAD), 431 (more than max_header_lines header lines).
 */
int parse_request(std::string_view head, request &out);

/**
 * Open the file a decoded path names below the directory @p root_fd (a directory serves its
 * index.html). Symbolic links are followed only while they stay below the root (openat2
 * RESOLVE_BENEATH; a realpath check where the kernel lacks openat2).
 * @return an open read-only descriptor of a regular file and its size in @p size, or -403 (it
 *   leaves the root, or is not a regular file, or is not readable), -404 (no such file).
 */
int open_below(int root_fd, const std::string &root_real, std::string_view path,
	       std::uint64_t &size) noexcept;

/**
 * A single byte range of a file of @p size bytes from a Range header value.
 * @return 206 with [first, last] set, 416 when it is a valid byte range that the file cannot
 *   satisfy, or 200 when the header is to be ignored (not "bytes=", several ranges, malformed:
 *   RFC 9110 lets a server ignore those and send the whole file).
 */
int parse_range(std::string_view value, std::uint64_t size, std::uint64_t &first,
		std::uint64_t &last) noexcept;

/** Reason phrase of a status code we send. */
const char *reason(int status) noexcept;

/** Content-Type from the file name's extension (application/octet-stream by default). */
const char *content_type(std::string_view path) noexcept;

} // namespace fileserve
