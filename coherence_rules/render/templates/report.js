(function () {
  "use strict";
  var doc = document;
  var form = doc.getElementById("filters");
  var findings = Array.prototype.slice.call(doc.querySelectorAll("#findings .finding"));
  var groups = Array.prototype.slice.call(doc.querySelectorAll("#findings .group"));
  var counter = doc.getElementById("filter-count");
  var noMatch = doc.getElementById("no-match");

  function boxes(name) {
    return Array.prototype.slice.call(form.querySelectorAll("input[name=\"" + name + "\"]"));
  }
  function chosen(name) {
    var out = {};
    boxes(name).forEach(function (box) { if (box.checked) { out[box.value] = true; } });
    return out;
  }
  function apply() {
    var scores = chosen("score"), dims = chosen("dimension"), stats = chosen("status");
    var shown = 0;
    findings.forEach(function (f) {
      var d = f.dataset;
      var visible = scores[d.score] === true && dims[d.dimension] === true && stats[d.status] === true;
      f.hidden = !visible;
      if (visible) { shown += 1; }
    });
    groups.forEach(function (g) { g.hidden = !g.querySelector(".finding:not([hidden])"); });
    if (counter) {
      counter.textContent = shown === findings.length
        ? "Showing all " + findings.length + " findings"
        : "Showing " + shown + " of " + findings.length + " findings";
    }
    if (noMatch) { noMatch.hidden = shown !== 0 || findings.length === 0; }
  }
  function setAll(name, value) {
    boxes(name).forEach(function (box) { box.checked = value; });
    apply();
  }
  function reset() {
    ["score", "dimension", "status"].forEach(function (name) {
      boxes(name).forEach(function (box) { box.checked = true; });
    });
    apply();
  }
  function openProofs(open) {
    doc.querySelectorAll("details.why").forEach(function (d) { d.open = open; });
  }

  if (form) {
    form.hidden = false;
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.addEventListener("click", function (event) {
      var target = event.target;
      if (!(target instanceof HTMLButtonElement)) { return; }
      if (target.dataset.all) { setAll(target.dataset.all, true); }
      else if (target.dataset.none) { setAll(target.dataset.none, false); }
      else if (target.id === "filter-reset") { reset(); }
      else if (target.id === "expand-all") { openProofs(true); }
      else if (target.id === "collapse-all") { openProofs(false); }
    });
    apply();
  }

  // Going to a finding (from the matrix or a link) shows it even when filters or a closed
  // section hide it.
  function reveal() {
    var id = "";
    try { id = decodeURIComponent(window.location.hash.slice(1)); } catch (e) { return; }
    var target = id ? doc.getElementById(id) : null;
    if (!target) { return; }
    if (form && (target.closest("[hidden]") || target.querySelector(".finding[hidden]"))) { reset(); }
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
