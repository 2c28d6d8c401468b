// The image API over real HTTP, with real files from ../shared/testdata.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

#include <opencv2/imgcodecs.hpp>

#include "server_fixture.hpp"

using namespace pixelmill;
using test::http::field;
using test::http::status;
using test::http::verb;

namespace {

std::string testdata(const std::string& name) {
  std::ifstream in(std::string(PIXELMILL_SOURCE_DIR) + "/../shared/testdata/" + name, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

cv::Mat decode(const std::string& bytes) {
  return cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data())),
                      cv::IMREAD_UNCHANGED);
}

test::StringResponse post_image(test::HttpClient& client, std::string_view target, std::string body,
                                std::string type = "image/jpeg") {
  return client.request(verb::post, target, std::move(body), {{"Content-Type", type}});
}

std::string problem_type(const test::StringResponse& res) {
  return std::string(test::json_body(res).at("type").as_string());
}

const std::string photo = "photos/umang_by_Abhishek_Mudgal.jpg";  // 3840x2160 baseline JPEG

}  // namespace

// The session reads a Content-Length body straight into place (read_sized_body):
// the bytes that came with the header, then the rest as it arrives; a request sent
// right behind the body must stay buffered for the next exchange.
TEST_CASE("an upload that arrives in pieces, a request pipelined behind it, is stored byte for byte") {
  test::ServerFixture f;
  auto client = f.client();
  const std::string original = testdata(photo);
  REQUIRE(original.size() > 100'000);
  client.send_raw("POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                  std::to_string(original.size()) + "\r\n\r\n" + original.substr(0, 1000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  client.send_raw(original.substr(1000, 50'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  client.send_raw(original.substr(51'000) + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  auto created = client.read_response();
  REQUIRE(created.result() == status::created);
  CHECK(test::json_body(created).at("bytes") == original.size());
  auto health = client.read_response();
  CHECK(health.result() == status::ok);
  CHECK(health.body() == R"({"status":"ok"})");
  auto fetched = client.get(std::string(created[field::location]));
  CHECK(fetched.result() == status::ok);
  CHECK(fetched.body() == original);
}

TEST_CASE("upload, fetch, variant, 304, delete: the stored image's life") {
  test::ServerFixture f;
  auto client = f.client();
  const std::string original = testdata(photo);

  auto created = post_image(client, "/v1/images", original);
  REQUIRE(created.result() == status::created);
  const auto info = test::json_body(created);
  const std::string id(info.at("id").as_string());
  CHECK(id.size() == 64);
  CHECK(info.at("format") == "jpeg");
  CHECK(info.at("width") == 3840);
  CHECK(info.at("height") == 2160);
  CHECK(info.at("bytes") == original.size());
  CHECK(created[field::location] == "/v1/images/" + id);

  auto again = post_image(client, "/v1/images", original);
  CHECK(again.result() == status::ok);
  CHECK(test::json_body(again).at("id").as_string() == id.c_str());

  auto fetched = client.get("/v1/images/" + id);
  CHECK(fetched.result() == status::ok);
  CHECK(fetched.body() == original);
  CHECK(fetched[field::content_type] == "image/jpeg");
  CHECK(fetched[field::etag] == "\"" + id + "\"");
  CHECK(fetched[field::cache_control] == "public, max-age=31536000, immutable");

  auto cached = client.request(verb::get, "/v1/images/" + id, {}, {{"If-None-Match", "\"" + id + "\""}});
  CHECK(cached.result() == status::not_modified);
  CHECK(cached.body().empty());

  auto variant = client.get("/v1/images/" + id + "?w=200&format=jpeg");
  REQUIRE(variant.result() == status::ok);
  CHECK(variant[field::content_type] == "image/jpeg");
  const cv::Mat pixels = decode(variant.body());
  CHECK(pixels.cols == 200);
  CHECK(pixels.rows == 113);  // 2160 * 200 / 3840 = 112.5, rounded
  const std::string variant_etag(variant[field::etag]);
  CHECK(variant_etag != "\"" + id + "\"");
  auto variant_cached = client.request(verb::get, "/v1/images/" + id + "?w=200&format=jpeg", {},
                                       {{"If-None-Match", variant_etag}});
  CHECK(variant_cached.result() == status::not_modified);

  CHECK(client.request(verb::delete_, "/v1/images/" + id).result() == status::no_content);
  CHECK(client.get("/v1/images/" + id).result() == status::not_found);
  CHECK(client.request(verb::delete_, "/v1/images/" + id).result() == status::not_found);
  const std::string metrics = f.metrics();
  CHECK(test::value(metrics, "pixelmill_images_stored") == 0);
  CHECK(test::value(metrics, R"(pixelmill_cpu_job_seconds_count{stage="decode"})") == 1);
  CHECK(test::value(metrics, R"(pixelmill_cpu_job_seconds_count{stage="encode"})") == 1);
}

TEST_CASE("multipart upload stores the file part") {
  test::ServerFixture f;
  auto client = f.client();
  const std::string png = testdata("imgproxy/geometry.png");
  const std::string body = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"g.png\"\r\n"
                           "Content-Type: image/png\r\n\r\n" + png + "\r\n--XyZ--\r\n";
  auto res = post_image(client, "/v1/images", body, "multipart/form-data; boundary=XyZ");
  REQUIRE(res.result() == status::created);
  const auto info = test::json_body(res);
  CHECK(info.at("format") == "png");
  CHECK(info.at("width") == 200);
  CHECK(info.at("height") == 100);
  CHECK(info.at("bytes") == png.size());
}

TEST_CASE("POST /v1/resize returns the resized image, nothing stored") {
  test::ServerFixture f;
  auto client = f.client();
  auto res = post_image(client, "/v1/resize?w=300&h=300&fit=cover&format=png", testdata(photo));
  REQUIRE(res.result() == status::ok);
  CHECK(res[field::content_type] == "image/png");
  const cv::Mat pixels = decode(res.body());
  CHECK(pixels.cols == 300);
  CHECK(pixels.rows == 300);
  CHECK(test::value(f.metrics(), "pixelmill_images_stored") == 0);
}

TEST_CASE("format=auto: WebP when Accept allows it, with Vary: Accept") {
  test::ServerFixture f;
  auto client = f.client();
  auto webp = client.request(verb::post, "/v1/resize?w=100", testdata(photo),
                             {{"Content-Type", "image/jpeg"}, {"Accept", "image/webp,*/*"}});
  REQUIRE(webp.result() == status::ok);
  CHECK(webp[field::content_type] == "image/webp");
  CHECK(webp[field::vary] == "Accept");
  auto jpeg = post_image(client, "/v1/resize?w=100", testdata(photo));
  CHECK(jpeg[field::content_type] == "image/jpeg");
}

TEST_CASE("bad input gets a precise 4xx") {
  test::ServerFixture f;
  auto client = f.client();
  SUBCASE("unsupported format: 415") {
    auto res = post_image(client, "/v1/resize?w=10", testdata("fuzzdb/uber.gif"), "image/gif");
    CHECK(res.result() == status::unsupported_media_type);
    CHECK(problem_type(res) == "urn:pixelmill:problem:unsupported-format");
  }
  SUBCASE("pixel flood: 422 before decoding") {
    auto res = post_image(client, "/v1/images", testdata("fuzzdb/lottapixel.jpg"));
    CHECK(res.result() == status::unprocessable_entity);
    CHECK(problem_type(res) == "urn:pixelmill:problem:over-limit");
  }
  SUBCASE("bad parameter: 400 naming it") {
    auto res = post_image(client, "/v1/resize?w=abc", testdata(photo));
    CHECK(res.result() == status::bad_request);
    CHECK(problem_type(res) == "urn:pixelmill:problem:bad-parameter");
    CHECK(std::string(test::json_body(res).at("detail").as_string()).find("\"w\"") != std::string::npos);
  }
  SUBCASE("not an image content type: 415") {
    auto res = post_image(client, "/v1/images", "hello", "text/plain");
    CHECK(res.result() == status::unsupported_media_type);
    CHECK(problem_type(res) == "urn:pixelmill:problem:unsupported-media-type");
  }
  SUBCASE("malformed id: 404") {
    CHECK(client.get("/v1/images/../../etc/passwd").result() == status::not_found);
    CHECK(client.get("/v1/images/ABC").result() == status::not_found);
  }
}

TEST_CASE("a variant is computed once under 8 concurrent identical requests, then cached") {
  auto settings = test::test_settings();
  settings.runtime.cpu_queue_length = 16;  // all eight are accepted
  test::ServerFixture f(settings);
  auto uploader = f.client();
  auto created = post_image(uploader, "/v1/images", testdata(photo));
  REQUIRE(created.result() == status::created);
  const std::string id(test::json_body(created).at("id").as_string());
  const std::string target = "/v1/images/" + id + "?w=320&format=jpeg";

  std::vector<std::future<test::StringResponse>> requests;
  for (int i = 0; i < 8; ++i) {
    requests.push_back(std::async(std::launch::async, [&] { return f.client().get(target); }));
  }
  std::string first;
  for (auto& request : requests) {
    auto res = request.get();
    REQUIRE(res.result() == status::ok);
    if (first.empty()) first = res.body();
    CHECK(res.body() == first);
  }
  std::string text = f.metrics();
  CHECK(test::value(text, "pixelmill_cache_misses_total") == 1);
  CHECK(test::value(text, "pixelmill_cache_hits_total") == 7);
  CHECK(test::value(text, R"(pixelmill_cpu_job_seconds_count{stage="decode"})") == 1);

  CHECK(f.client().get(target).body() == first);  // later: from the cache
  text = f.metrics();
  CHECK(test::value(text, "pixelmill_cache_hits_total") == 8);
  CHECK(test::value(text, R"(pixelmill_cpu_job_seconds_count{stage="decode"})") == 1);

  REQUIRE(f.client().request(verb::delete_, "/v1/images/" + id).result() == status::no_content);
  CHECK_FALSE(std::filesystem::exists(f.data_dir / "variants" / id));
  CHECK(f.client().get(target).result() == status::not_found);
}

TEST_CASE("every fit over HTTP gives its exact size") {
  test::ServerFixture f;
  auto client = f.client();
  const std::string source = testdata(photo);  // 3840x2160 into a 400x300 box
  const std::vector<std::tuple<std::string, int, int>> fits = {
      {"cover", 400, 300}, {"contain", 400, 300}, {"fill", 400, 300},
      {"inside", 400, 225}, {"outside", 533, 300}};
  for (const auto& [fit, width, height] : fits) {
    INFO(fit);
    auto res = post_image(client, "/v1/resize?w=400&h=300&format=png&fit=" + fit, source);
    REQUIRE(res.result() == status::ok);
    const cv::Mat out = decode(res.body());
    CHECK(out.cols == width);
    CHECK(out.rows == height);
  }
}

TEST_CASE("alpha over HTTP: kept for PNG, flattened onto the background for JPEG") {
  test::ServerFixture f;
  auto client = f.client();
  const std::string rgba = testdata("pngsuite/basn6a08.png");  // 32x32 RGBA
  const cv::Mat source = decode(rgba);
  REQUIRE(source.channels() == 4);
  cv::Point clear{-1, -1};
  for (int y = 0; y < source.rows && clear.x < 0; ++y) {
    for (int x = 0; x < source.cols; ++x) {
      if (source.at<cv::Vec4b>(y, x)[3] == 0) {
        clear = {x, y};
        break;
      }
    }
  }
  REQUIRE(clear.x >= 0);

  auto png = post_image(client, "/v1/resize?format=png", rgba, "image/png");
  const cv::Mat kept = decode(png.body());
  REQUIRE(kept.channels() == 4);
  CHECK(kept.at<cv::Vec4b>(clear)[3] == 0);

  auto jpeg = post_image(client, "/v1/resize?format=jpeg&background=ff0000&quality=100", rgba, "image/png");
  const cv::Mat flat = decode(jpeg.body());
  REQUIRE(flat.channels() == 3);
  const cv::Vec3b pixel = flat.at<cv::Vec3b>(clear);  // BGR
  CHECK(pixel[2] > 200);
  CHECK(pixel[1] < 60);
  CHECK(pixel[0] < 60);
}

TEST_CASE("EXIF orientation over HTTP: every Landscape sample comes out upright") {
  test::ServerFixture f;
  auto client = f.client();
  auto upright = [&](int n) {
    auto res = post_image(client, "/v1/resize?w=300&format=png",
                          testdata("exif-orientation-examples/Landscape_" + std::to_string(n) + ".jpg"));
    REQUIRE(res.result() == status::ok);
    return decode(res.body());
  };
  const cv::Mat reference = upright(1);
  REQUIRE(reference.cols == 300);
  REQUIRE(reference.rows == 200);
  for (int n = 2; n <= 8; ++n) {
    INFO("orientation " << n);
    const cv::Mat out = upright(n);
    REQUIRE(out.size() == reference.size());
    CHECK(cv::norm(out, reference, cv::NORM_L1) / static_cast<double>(out.total() * 3) < 12);
  }
}

TEST_CASE("grey PNGs with a tRNS colour key over HTTP: exactly the keyed pixels come out transparent") {
  test::ServerFixture f;
  auto client = f.client();
  // pngsuite tbbn0g04 (4-bit) and tbwn0g16 (16-bit): grey, tRNS key = white.
  for (const std::string file : {"pngsuite/tbbn0g04.png", "pngsuite/tbwn0g16.png"}) {
    INFO(file);
    const std::string source = testdata(file);
    const cv::Mat grey = decode(source);  // OpenCV alone: one grey channel, the key dropped
    REQUIRE(grey.channels() == 1);
    const cv::Mat keyed = grey == (grey.depth() == CV_16U ? 65535.0 : 255.0);
    REQUIRE(cv::countNonZero(keyed) > 0);

    auto res = post_image(client, "/v1/resize?format=png", source, "image/png");
    REQUIRE(res.result() == status::ok);
    CHECK(res[field::content_type] == "image/png");
    const cv::Mat out = decode(res.body());
    REQUIRE(out.type() == CV_8UC4);
    REQUIRE(out.size() == grey.size());
    cv::Mat alpha;
    cv::extractChannel(out, alpha, 3);
    CHECK(cv::norm(alpha, ~keyed, cv::NORM_INF) == 0);  // 0 on the key, 255 elsewhere
  }
}

TEST_CASE("kernel over HTTP: another kernel, another valid image of the same size, ETag and cache entry") {
  test::ServerFixture f;
  auto client = f.client();
  const std::string source = testdata(photo);
  auto resize = [&](const std::string& kernel) {
    auto res = post_image(client, "/v1/resize?w=300&format=png" + kernel, source);
    REQUIRE(res.result() == status::ok);
    const cv::Mat out = decode(res.body());
    CHECK(out.cols == 300);
    CHECK(out.rows == 169);
    CHECK(out.channels() == 3);
    return std::pair{res.body(), std::string(res[field::etag])};
  };
  const auto plain = resize("");
  const auto nearest = resize("&kernel=nearest");
  const auto lanczos = resize("&kernel=lanczos");
  const auto area = resize("&kernel=area");
  CHECK(nearest.first != plain.first);
  CHECK(lanczos.first != plain.first);
  CHECK(lanczos.first != nearest.first);
  CHECK(area.first == plain.first);  // shrinking: the default kernel is area
  const std::set<std::string> etags = {plain.second, nearest.second, lanczos.second, area.second};
  CHECK(etags.size() == 4);

  auto bad = post_image(client, "/v1/resize?w=300&kernel=bicubic", source);
  CHECK(bad.result() == status::bad_request);
  CHECK(problem_type(bad) == "urn:pixelmill:problem:bad-parameter");
  CHECK(std::string(test::json_body(bad).at("detail").as_string()).find("\"kernel\"") != std::string::npos);

  // Stored variants: one cache entry per kernel.
  auto created = post_image(client, "/v1/images", source);
  REQUIRE(created.result() == status::created);
  const std::string target = "/v1/images/" + std::string(test::json_body(created).at("id").as_string()) + "?w=300";
  auto variant_plain = client.get(target + "&format=png");
  auto variant_nearest = client.get(target + "&format=png&kernel=nearest");
  REQUIRE(variant_plain.result() == status::ok);
  REQUIRE(variant_nearest.result() == status::ok);
  CHECK(variant_plain.body() == plain.first);
  CHECK(variant_nearest.body() == nearest.first);
  CHECK(variant_nearest[field::etag] != variant_plain[field::etag]);
  CHECK(test::value(f.metrics(), "pixelmill_cache_misses_total") == 2);
}
