// The order record both example services agree on: one lww value per order in the orders
// service's "orders" collection, "customer=<id>;amount=<cents>;status=<placed|cancelled>".
#ifndef SYNCLINE_EXAMPLES_ORDERS_ORDER_H_
#define SYNCLINE_EXAMPLES_ORDERS_ORDER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orders {

struct Order {
  std::string customer;
  int64_t amount_cents = 0;
  bool cancelled = false;
};

inline std::string Encode(const Order& o) {
  return "customer=" + o.customer + ";amount=" + std::to_string(o.amount_cents) +
         ";status=" + (o.cancelled ? "cancelled" : "placed");
}

// The order in `text`, or nothing when it is not an order record (e.g. "<absent>" for a delete).
inline std::optional<Order> Decode(std::string_view text) {
  Order o;
  bool have_customer = false, have_amount = false, have_status = false;
  while (!text.empty()) {
    size_t semi = text.find(';');
    std::string_view field = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    size_t eq = field.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
    if (name == "customer") {
      o.customer = std::string(value);
      have_customer = !value.empty();
    } else if (name == "amount") {
      if (value.empty() || value.size() > 15) return std::nullopt;
      int64_t v = 0;
      for (char ch : value) {
        if (ch < '0' || ch > '9') return std::nullopt;
        v = v * 10 + (ch - '0');
      }
      o.amount_cents = v;
      have_amount = true;
    } else if (name == "status") {
      if (value != "placed" && value != "cancelled") return std::nullopt;
      o.cancelled = value == "cancelled";
      have_status = true;
    } else {
      return std::nullopt;
    }
  }
  if (!have_customer || !have_amount || !have_status) return std::nullopt;
  return o;
}

}  // namespace orders

#endif  // SYNCLINE_EXAMPLES_ORDERS_ORDER_H_
