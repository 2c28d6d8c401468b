// Unit tests of server/multipart: boundary_of, require_boundary, find_file_part.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pixelmill/server/http_error.hpp"
#include "pixelmill/server/multipart.hpp"

namespace srv = pixelmill::server;
using namespace std::string_literals;

namespace {

// What `curl -F file=@photo.png` sends (curl 7.88 layout).
const std::string curl_boundary = "------------------------d74496d66958873e";

std::string curl_body(const std::string& content, const std::string& boundary = curl_boundary) {
  return "--" + boundary + "\r\n" +
         "Content-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\n"
         "Content-Type: image/png\r\n"
         "\r\n" +
         content + "\r\n--" + boundary + "--\r\n";
}

// The detail of the HttpError find_file_part throws, checking status and slug.
std::string error_of(std::string_view body, std::string_view boundary = curl_boundary) {
  try {
    (void)srv::find_file_part(body, boundary);
  } catch (const srv::HttpError& e) {
    CHECK(e.status() == srv::http::status::bad_request);
    CHECK(e.slug() == "bad-multipart");
    CHECK_MESSAGE(e.detail().find('\n') == std::string::npos, e.detail());
    return e.detail();
  }
  FAIL_CHECK("no HttpError");
  return "";
}

#define CHECK_CONTAINS(text, part) CHECK_MESSAGE((text).find(part) != std::string::npos, (text))

}  // namespace

TEST_CASE("boundary_of reads the boundary of multipart/form-data") {
  CHECK(srv::boundary_of("multipart/form-data; boundary=" + curl_boundary) == curl_boundary);
  CHECK(srv::boundary_of("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW") ==
        "----WebKitFormBoundary7MA4YWxkTrZu0gW");
  CHECK(srv::boundary_of("Multipart/Form-Data;BOUNDARY=abc") == "abc");
  CHECK(srv::boundary_of("multipart/form-data; charset=utf-8; boundary=abc") == "abc");
  CHECK(srv::boundary_of("multipart/form-data; boundary=\"a b:c?d\"") == "a b:c?d");
  CHECK(srv::boundary_of("multipart/form-data; boundary=\"abc\"; charset=\"x;y\"") == "abc");
  CHECK(srv::boundary_of("multipart/form-data ;  boundary = abc ") == "abc");
  CHECK(srv::boundary_of("multipart/form-data; boundary="s + std::string(70, 'x')) == std::string(70, 'x'));

  CHECK(!srv::boundary_of(""));
  CHECK(!srv::boundary_of("multipart/form-data"));
  CHECK(!srv::boundary_of("multipart/form-data; boundary="));
  CHECK(!srv::boundary_of("multipart/form-data; boundary=\"\""));
  CHECK(!srv::boundary_of("multipart/form-data; boundary=\"abc"));
  CHECK(!srv::boundary_of("multipart/form-data; boundary=\"ab \""));  // may not end in a space
  CHECK(!srv::boundary_of("multipart/form-data; boundary=a\\b"));
  CHECK(!srv::boundary_of("multipart/form-data; boundary=\"a\\\"b\""));
  CHECK(!srv::boundary_of("multipart/form-data; boundary="s + std::string(71, 'x')));
  CHECK(!srv::boundary_of("multipart/mixed; boundary=abc"));
  CHECK(!srv::boundary_of("image/png"));
  CHECK(!srv::boundary_of("multipart/form-data; boundary"));
}

TEST_CASE("require_boundary says what is wrong with the Content-Type") {
  CHECK(srv::require_boundary("multipart/form-data; boundary=abc") == "abc");
  const auto detail = [](std::string_view content_type) {
    try {
      (void)srv::require_boundary(content_type);
    } catch (const srv::HttpError& e) {
      CHECK(e.status() == srv::http::status::bad_request);
      CHECK(e.slug() == "bad-multipart");
      return e.detail();
    }
    FAIL_CHECK("no HttpError");
    return std::string();
  };
  CHECK(detail("image/png") ==
        "Content-Type \"image/png\" is not multipart/form-data (allowed: multipart/form-data; boundary=...)");
  CHECK(detail("multipart/form-data") ==
        "Content-Type \"multipart/form-data\" has no valid boundary parameter (allowed: boundary=1..70 letters, "
        "digits or '()+_,-./:=? )");
}

TEST_CASE("a curl -F file=@... body") {
  const std::string png = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR"s;
  const auto body = curl_body(png);
  const auto part = srv::find_file_part(body, *srv::boundary_of("multipart/form-data; boundary=" + curl_boundary));
  CHECK(part.content == png);
  CHECK(part.content_type == "image/png");
  CHECK(part.filename == "photo.png");
  // A view into the body, not a copy.
  CHECK(part.content.data() >= body.data());
  CHECK(part.content.data() + part.content.size() <= body.data() + body.size());
}

TEST_CASE("binary content with CRLFs, dashes and partial boundaries is preserved exactly") {
  std::string content;
  for (int i = 0; i < 256; ++i) content += static_cast<char>(i);
  content += "\r\n\r\n--\r\n--" + curl_boundary.substr(0, 10) + "\r\n\r\n-" + "\0\r"s;
  const auto body = curl_body(content);  // the part is a view into it: keep it alive
  const auto part = srv::find_file_part(body, curl_boundary);
  CHECK(part.content.size() == content.size());
  CHECK(part.content == content);

  // Content that ends in CRLF keeps it; empty content is empty.
  const auto content_of = [](const std::string& c) {
    const auto b = curl_body(c);
    return std::string(srv::find_file_part(b, curl_boundary).content);
  };
  CHECK(content_of("x\r\n") == "x\r\n");
  CHECK(content_of("").empty());
  CHECK(content_of("\r\n") == "\r\n");
}

TEST_CASE("a quoted boundary with spaces, from the Content-Type to the body") {
  const auto boundary = srv::boundary_of("multipart/form-data; boundary=\"my boundary:1\"");
  REQUIRE(boundary);
  const auto body = curl_body("data", "my boundary:1");
  CHECK(srv::find_file_part(body, *boundary).content == "data");
}

TEST_CASE("other fields before and after, preamble, epilogue, padding, header case") {
  const std::string body =
      "This is a preamble, ignored.\r\n"
      "--XyZ\r\n"
      "content-disposition: form-data; name=\"title\"\r\n"
      "\r\n"
      "My photo\r\n"
      "--XyZ  \t\r\n"  // transport padding
      "Content-Disposition: form-data; name=\"tags\"\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "\r\n"
      "a,b\r\n"
      "--XyZ\r\n"
      "CONTENT-TYPE:image/jpeg\r\n"
      "X-Other: ignored\r\n"
      "Content-Disposition: FORM-DATA; filename=\"a \\\"b\\\"; c.jpg\"; NAME=file\r\n"
      "\r\n"
      "\xff\xd8\xff\xe0 jpeg\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"after\"\r\n"
      "\r\n"
      "\r\n"
      "--XyZ--\r\n"
      "an epilogue, ignored --XyZ garbage";
  const auto part = srv::find_file_part(body, "XyZ");
  CHECK(part.content == "\xff\xd8\xff\xe0 jpeg");
  CHECK(part.content_type == "image/jpeg");
  CHECK(part.filename == "a \"b\"; c.jpg");

  // Another field name; a file part without filename or Content-Type.
  const auto title = srv::find_file_part(body, "XyZ", "title");
  CHECK(title.content == "My photo");
  CHECK(title.filename.empty());
  CHECK(title.content_type.empty());
  CHECK(srv::find_file_part(body, "XyZ", "after").content.empty());
}

TEST_CASE("a part whose content is absent (the delimiter's CRLF ends its headers)") {
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=x\r\n\r\nX\r\n--b--";
  CHECK(srv::find_file_part(body, "b", "empty").content.empty());
  CHECK(srv::find_file_part(body, "b").content == "X");
  CHECK(srv::find_file_part(body, "b").filename == "x");
}

TEST_CASE("malformed bodies are 400 bad-multipart with a precise detail") {
  const auto full = curl_body("data");
  const std::string b = "--" + curl_boundary;

  SUBCASE("missing final boundary") {
    const auto truncated = full.substr(0, full.find(b + "--"));
    CHECK(error_of(truncated) == "the body ends inside part 1 without the closing boundary \"" + b + "--\"");
    CHECK(error_of(full.substr(0, full.size() - 4)) ==
          "the body ends without the closing boundary \"" + b + "--\"");
    CHECK(error_of(b + "\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ndata") ==
          "the body ends inside part 1 without the closing boundary \"" + b + "--\"");
  }
  SUBCASE("no file part") {
    const std::string body =
        "--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n\r\nx\r\n"
        "--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nt\r\n--b--\r\n";
    CHECK(error_of(body, "b") == "no \"file\" part in the form (its parts: \"image\", \"title\")");
    CHECK(error_of("--b--\r\n", "b") == "no \"file\" part in the form (it has no parts)");
  }
  SUBCASE("wrong or empty boundary") {
    CHECK(error_of(full, "other") == "the body has no boundary line \"--other\" (is the boundary right?)");
    CHECK(error_of("", "b") == "the body has no boundary line \"--b\" (is the boundary right?)");
    CHECK(error_of(full, "") == "the multipart boundary is empty");
  }
  SUBCASE("two file parts") {
    const std::string body =
        "--b\r\nContent-Disposition: form-data; name=file\r\n\r\n1\r\n"
        "--b\r\nContent-Disposition: form-data; name=x\r\n\r\n2\r\n"
        "--b\r\nContent-Disposition: form-data; name=file\r\n\r\n3\r\n--b--";
    CHECK(error_of(body, "b") == "more than one \"file\" part (parts 1 and 3; allowed: one)");
  }
  SUBCASE("bad part headers") {
    CHECK(error_of("--b\r\nContent-Type: image/png\r\n\r\nx\r\n--b--", "b") ==
          "part 1: no Content-Disposition header (allowed: form-data; name=\"...\")");
    CHECK(error_of("--b\r\nContent-Disposition: attachment; name=file\r\n\r\nx\r\n--b--", "b") ==
          "part 1: Content-Disposition \"attachment; name=file\" is not form-data; name=\"...\"");
    CHECK(error_of("--b\r\nContent-Disposition: form-data; name=\"file\r\n\r\nx\r\n--b--", "b") ==
          "part 1: Content-Disposition \"form-data; name=\\\"file\" is not form-data; name=\"...\"");
    CHECK(error_of("--b\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n--b--", "b") ==
          "part 1: Content-Disposition \"form-data; filename=a\" has no name");
    CHECK(error_of("--b\r\nbogus line\r\n\r\nx\r\n--b--", "b") ==
          "part 1: header line \"bogus line\" is not NAME: VALUE");
    CHECK(error_of("--b\r\nContent-Disposition: form-data; name=file\r\nx\r\n--b--", "b") ==
          "part 1: headers do not end with an empty line");
  }
  SUBCASE("junk after a boundary, LF-only lines") {
    CHECK(error_of("--b\r\nContent-Disposition: form-data; name=file\r\n\r\nx\r\n--bX\r\n--b--", "b") ==
          "boundary line before part 2 is followed by \"X\\x0d\\x0a--b--\" (allowed: CRLF, or \"--\" to close)");
    CHECK(error_of("--b\nContent-Disposition: form-data; name=file\n\nx\n--b--\n", "b") ==
          "boundary line before part 1 is followed by \"\\x0aContent-Disposi\" (allowed: CRLF, or \"--\" to close)");
  }
}
