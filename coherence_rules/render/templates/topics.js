(function () {
  "use strict";
  // The topic matrix: sort and filter its rows, show all topics or the checklist's only, and
  // open an agreement's articles when a cell links to one. Reads data- attributes only.
  var doc = document;
  var form = doc.getElementById("topic-filters");
  var table = doc.getElementById("topic-matrix");
  var body = table ? table.tBodies[0] : null;
  var rows = body ? Array.prototype.slice.call(body.rows) : [];
  var counter = doc.getElementById("row-count");
  var noRows = doc.getElementById("no-rows");
  rows.forEach(function (row, index) { row.dataset.index = String(index); });

  function value(name) {
    var field = form.elements.namedItem(name);
    return field ? field.value : "";
  }
  function kinds() {
    var out = {}, any = false;
    Array.prototype.forEach.call(form.querySelectorAll("input[name=\"kind\"]"), function (box) {
      any = true;
      if (box.checked) { out[box.value] = true; }
    });
    return any ? out : null;
  }
  function compare(key) {
    return function (a, b) {
      var x = a.dataset, y = b.dataset, order = 0;
      if (key === "coverage") { order = parseFloat(x.coverage) - parseFloat(y.coverage); }
      else if (key === "signed") { order = (x.signed || "9999").localeCompare(y.signed || "9999"); }
      else if (key === "kind") { order = (x.kind || "~").localeCompare(y.kind || "~"); }
      if (order === 0 && key !== "set") { order = (x.signed || "9999").localeCompare(y.signed || "9999"); }
      return order || parseInt(x.index, 10) - parseInt(y.index, 10);
    };
  }
  function apply() {
    var key = value("sort") || "set";
    var sorted = rows.slice().sort(compare(key));
    if (doc.getElementById("sort-desc").checked) { sorted.reverse(); }
    sorted.forEach(function (row) { body.appendChild(row); });
    var wanted = kinds();
    var text = value("text").trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var visible = (!wanted || !row.dataset.kind || wanted[row.dataset.kind] === true) &&
        (!text || row.dataset.text.indexOf(text) !== -1);
      row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    table.classList.toggle("only-checklist", value("columns") === "checklist");
    if (counter) {
      counter.textContent = shown === rows.length
        ? "Showing all " + rows.length + " rows"
        : "Showing " + shown + " of " + rows.length + " rows";
    }
    if (noRows) { noRows.hidden = shown !== 0 || rows.length === 0; }
  }
  function reset() {
    form.reset();
    apply();
  }

  if (form && table && body) {
    form.hidden = false;
    form.addEventListener("change", apply);
    form.addEventListener("input", apply);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    doc.getElementById("filter-reset").addEventListener("click", reset);
    apply();
  }

  // Going to an article (from a cell) opens the agreement it belongs to.
  function reveal() {
    var id = "";
    try { id = decodeURIComponent(window.location.hash.slice(1)); } catch (e) { return; }
    var target = id ? doc.getElementById(id) : null;
    if (!target) { return; }
    for (var node = target; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") { node.open = true; }
    }
    target.scrollIntoView();
  }
  window.addEventListener("hashchange", reveal);
  if (window.location.hash) { reveal(); }

  // Printing shows everything: every collapsed section is opened, and closed again afterwards.
  var reopened = [];
  window.addEventListener("beforeprint", function () {
    doc.querySelectorAll("details:not([open])").forEach(function (d) { d.open = true; reopened.push(d); });
  });
  window.addEventListener("afterprint", function () {
    reopened.forEach(function (d) { d.open = false; });
    reopened = [];
  });
})();
