// The hosted payment page's files (orchestrator/hosted/), compiled into the binary: CMake turns
// them into a generated header at build time (cmake/embed_files.cmake), so cashierd serves them
// without reading the file system and a release carries exactly the page it was tested with.
#pragma once

#include <string_view>

namespace cashier::daemon::hosted {

/// One embedded file.
struct asset {
  std::string_view name;          ///< file name, e.g. "checkout.js"
  std::string_view content_type;  ///< from the extension, with charset for text
  std::string_view bytes;         ///< the file's bytes
  bool is_page;                   ///< an HTML page (served at /pay/<id>, not under /pay/assets/)
};

/// The file named `name`, or null.
const asset* find_asset(std::string_view name);

}  // namespace cashier::daemon::hosted
