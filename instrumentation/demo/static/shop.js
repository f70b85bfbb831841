// The demo shop page: lists products through the frontend's /api, buys with one click, and loads
// Vigil's RUM script when the page was given one (data-rum-src) and it exists. Text is set with
// textContent only: product names come from the database.
(function () {
  "use strict";
  var rumSrc = document.body.getAttribute("data-rum-src");
  if (rumSrc) {
    var rum = document.createElement("script");
    rum.src = rumSrc;
    rum.async = true;
    rum.setAttribute("data-service", "shop-web");  // the browser side of the shop in Vigil's Frontend view
    rum.setAttribute("data-env", "demo");
    rum.onerror = function () { /* Vigil without /rum.js yet: the page works without it */ };
    document.head.appendChild(rum);
  }
  var status = document.getElementById("status");

  function show(list, products, buyable) {
    list.replaceChildren();
    products.forEach(function (p) {
      var li = document.createElement("li");
      var name = document.createElement("strong");
      name.textContent = p.name;
      var price = document.createElement("div");
      price.textContent = (p.price_cents / 100).toFixed(2) + " EUR";
      li.append(name, price);
      if (buyable) {
        var buy = document.createElement("button");
        buy.type = "button";
        buy.textContent = "Buy";
        buy.addEventListener("click", function () { checkout(p.id); });
        li.append(buy);
      }
      list.append(li);
    });
  }

  function load(path, list, buyable) {
    return fetch(path).then(function (r) {
      if (!r.ok) { throw new Error(path + " answered " + r.status); }
      return r.json();
    }).then(function (products) { show(list, products, buyable); })
      .catch(function (e) { status.textContent = String(e.message || e); });
  }

  function checkout(productId) {
    status.textContent = "Placing order…";
    fetch("/api/checkout", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ customer_id: 1, items: [{ product_id: productId, qty: 1 }] })
    }).then(function (r) { return r.json().then(function (body) { return [r.status, body]; }); })
      .then(function (res) {
        status.textContent = res[0] < 400 ? "Order " + res[1].order_id + " placed." : "Checkout failed: " + (res[1].detail || res[0]);
      })
      .catch(function (e) { status.textContent = "Checkout failed: " + e; });
  }

  document.getElementById("search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = document.getElementById("q").value;
    load("/api/search?q=" + encodeURIComponent(q), document.getElementById("products"), true);
  });
  load("/api/products", document.getElementById("products"), true);
  load("/api/recommendations?session=" + Math.floor(Math.random() * 1000), document.getElementById("recommended"), false);
})();
