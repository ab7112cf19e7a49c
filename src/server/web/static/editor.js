// The policy editor: line numbers beside the code, and the server's compiler run as you
// type (debounced), with the first error shown at its line. Check, backtest and propose
// are ordinary form buttons and work without this script.
(function () {
  "use strict";
  var form = document.getElementById("editor");
  var source = document.getElementById("source");
  var gutter = document.getElementById("gutter");
  var status = document.getElementById("compile-status");
  if (!form || !source || !gutter || !status || !window.fetch) return;
  var url = form.getAttribute("data-compile");
  var timer = null;
  var sent = 0;
  var errorLine = null;

  function lines() {
    var count = source.value.split("\n").length;
    if (gutter.children.length !== count) {
      var fragment = document.createDocumentFragment();
      for (var n = 1; n <= count; n++) {
        var span = document.createElement("span");
        span.textContent = String(n);
        fragment.appendChild(span);
      }
      gutter.replaceChildren(fragment);
    }
    for (var i = 0; i < gutter.children.length; i++) {
      gutter.children[i].className = (i + 1 === errorLine) ? "error" : "";
    }
    source.rows = Math.max(count + 2, 12);
  }

  function show(result) {
    status.replaceChildren();
    var p = document.createElement("p");
    if (result.ok) {
      errorLine = null;
      p.className = "compile-ok";
      p.textContent = "Compiles.";
    } else {
      errorLine = result.line;
      p.className = "compile-error error";
      p.setAttribute("data-line", String(result.line));
      p.textContent = "Line " + result.line + ", column " + result.column + ": " + result.message;
    }
    status.appendChild(p);
    lines();
  }

  function compile() {
    var mine = ++sent;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ source: source.value })
    })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (result) { if (result && mine === sent) show(result); })
      .catch(function () {});
  }

  source.addEventListener("input", function () {
    lines();
    clearTimeout(timer);
    timer = setTimeout(compile, 250);
  });
  lines();
})();
