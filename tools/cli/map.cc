// syncline map set|incr|add|remove|del COLLECTION KEY FIELD [VALUE]: changes a map field. FIELD is
// a path of field keys separated by '/', each "r:name" (register), "c:name" (counter), "s:name"
// (set) or "m:name" (nested map), e.g. m:profile/r:name.
#include "cli.h"

namespace syncline::cli {

namespace {

conflict::FieldPath ParsePath(const std::string& text) {
  conflict::FieldPath path;
  size_t start = 0;
  while (start <= text.size()) {
    size_t slash = text.find('/', start);
    if (slash == std::string::npos) slash = text.size();
    path.push_back(text.substr(start, slash - start));
    start = slash + 1;
  }
  return path;
}

}  // namespace

void RegisterMap(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("map", "change a map field (path like m:profile/r:name)");
  cmd->require_subcommand(1);
  struct Verb {
    const char* name;
    const char* help;
    bool takes_value;
  };
  for (Verb v : {Verb{"set", "set a register field", true}, Verb{"incr", "increment a counter field", true},
                 Verb{"add", "add an element to a set field", true}, Verb{"remove", "remove an element from a set field", true},
                 Verb{"del", "remove a field", false}}) {
    auto* sub = cmd->add_subcommand(v.name, v.help);
    auto collection = std::make_shared<std::string>();
    auto key = std::make_shared<std::string>();
    auto field = std::make_shared<std::string>();
    auto value = std::make_shared<std::string>();
    sub->add_option("collection", *collection, "collection")->required();
    sub->add_option("key", *key, "key")->required();
    sub->add_option("field", *field, "field path")->required();
    if (v.takes_value) sub->add_option("value", *value, "value, element or amount")->required();
    std::string verb = v.name;
    sub->callback([&g, exit_code, collection, key, field, value, verb] {
      conflict::FieldPath path = ParsePath(*field);
      replication::WriteOp op;
      if (verb == "set") {
        op = replication::WriteOp::SetField(path, *value);
      } else if (verb == "incr") {
        char* end = nullptr;
        long long amount = std::strtoll(value->c_str(), &end, 10);
        if (end == value->c_str() || *end != '\0') {
          std::fprintf(stderr, "syncline: map incr: amount '%s' is not an integer\n", value->c_str());
          *exit_code = kExitUsage;
          return;
        }
        op = replication::WriteOp::IncrementField(path, amount);
      } else if (verb == "add") {
        op = replication::WriteOp::AddToField(path, *value);
      } else if (verb == "remove") {
        op = replication::WriteOp::RemoveFromField(path, *value);
      } else {
        op = replication::WriteOp::RemoveField(path);
      }
      *exit_code = RunWrite(g, *collection, *key, op);
    });
  }
}

}  // namespace syncline::cli
