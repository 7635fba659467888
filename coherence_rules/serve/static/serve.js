/* The drafting page of `coherence serve`: the set's files in an editor, their findings beside it,
 * re-checked as the user types.
 *
 * Everything that comes from the files or the report is put on the page with textContent (or
 * as a data- attribute); no markup is built from strings, and class names come only from the
 * fixed vocabulary of the page, never from the report's text. */
(function () {
  "use strict";

  var doc = document;
  var DEBOUNCE_MS = 300;
  var STALE = "Out of date: edited since the last check";
  var TRACE_MAX_DEPTH = 100;
  var TRACE_MAX_NODES = 2000;

  function $(id) { return doc.getElementById(id); }

  var source = $("source");
  var gutter = $("gutter");
  var marksLayer = $("marks");
  var statusLine = $("check-status");
  var results = $("results");

  // ---- the report's vocabulary (data- attributes of #vocabulary) --------------------------------

  var vocab = { score: {}, status: {}, accept: {}, trace: {} };
  Array.prototype.forEach.call(doc.querySelectorAll("#vocabulary [data-kind]"), function (n) {
    var d = n.dataset;
    if (vocab[d.kind]) { vocab[d.kind][d.key] = d; }
  });
  function own(map, key) { return Object.prototype.hasOwnProperty.call(map, key) ? map[key] : null; }

  // ---- state -----------------------------------------------------------------------------------------

  var state = {
    files: [],          // {name, kind, text, base, version, problem}
    byName: Object.create(null),   // no prototype: a file name is never taken for a property
    current: null,      // name of the file in the editor
    report: null,
    selected: null,     // fingerprint of the selected finding
    marks: Object.create(null),       // file name -> [[from, to], ...] lines highlighted
    openProofs: Object.create(null),  // fingerprint -> true while its proof is shown
    edits: 0,           // edits so far; a check answers for the edits made before it was sent
    seq: 0,
    timer: null,
    controller: null,
    acceptFor: null
  };

  // ---- small helpers -----------------------------------------------------------------------------

  function el(tag, cls, text) {
    var n = doc.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined && text !== null) { n.textContent = String(text); }
    return n;
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  // Text with `code` spans (advice names fields and statements so): the spans become <code>
  // elements, everything else text nodes; nothing from the text is read as markup.
  function addCodeSpans(parent, text) {
    var parts = String(text).split("`");
    for (var i = 0; i < parts.length; i++) {
      if (i % 2 === 1 && i < parts.length - 1) { add(parent, el("code", null, parts[i])); }
      else { parent.appendChild(doc.createTextNode((i % 2 === 1 ? "`" : "") + parts[i])); }
    }
  }
  function clear(n) { while (n.firstChild) { n.removeChild(n.firstChild); } }
  function plural(n, one, many) { return n + " " + (n === 1 ? one : (many || one + "s")); }
  function locText(loc) { return loc ? loc.file + ":" + loc.line : ""; }
  function isDirty(f) { return f.text !== null && f.text !== f.base; }

  function fileUrl(name) { return "/api/files/" + name.split("/").map(encodeURIComponent).join("/"); }

  function api(method, path, body, signal) {
    var opts = { method: method, headers: { "Accept": "application/json" }, cache: "no-store",
                 credentials: "same-origin" };
    if (signal) { opts.signal = signal; }
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!resp.ok) {
          var err = new Error((data && data.message) || ("the server answered " + resp.status));
          err.status = resp.status;
          err.data = data;
          throw err;
        }
        return data;
      });
    });
  }

  // ---- status --------------------------------------------------------------------------------------

  function setStatus(kind, text) {
    statusLine.dataset.state = kind;
    statusLine.textContent = text;
    statusLine.title = text;
    results.dataset.fresh = kind === "fresh" ? "true" : "false";
  }

  function summaryText(r) {
    var s = r.summary || {};
    var findings = r.findings || [];
    if (findings.length === 0) { return "No findings"; }
    var conflicts = findings.filter(function (f) { return f.score < 0; });
    var by = { open: 0, accepted: 0, expired: 0 };
    conflicts.forEach(function (f) { if (own(by, f.status) !== null) { by[f.status] += 1; } });
    var text = plural(findings.length, "finding") + ": " + plural(conflicts.length, "conflict") +
      " (" + by.open + " open, " + by.accepted + " accepted, " + by.expired + " expired), " +
      plural(s.synergies || 0, "synergy", "synergies");
    if (typeof s.coherence_index === "number") {
      text += "; coherence index " + (s.coherence_index >= 0 ? "+" : "") + s.coherence_index.toFixed(2);
    }
    return text;
  }

  // ---- files and the editor -----------------------------------------------------------------------

  function metrics() {
    var cs = window.getComputedStyle(source);
    return { line: parseFloat(cs.lineHeight) || 20, pad: parseFloat(cs.paddingTop) || 0 };
  }

  function loadFiles() {
    return api("GET", "/api/files").then(function (data) {
      state.config = data;
      state.files = data.files.map(function (f) {
        return { name: f.name, kind: f.kind, text: f.text, base: f.text, version: f.version, problem: f.problem };
      });
      state.byName = Object.create(null);
      state.files.forEach(function (f) { state.byName[f.name] = f; });
      var first = state.files.filter(function (f) { return f.text !== null; })[0] || state.files[0];
      renderTabs();
      if (first) { showFile(first.name); } else { showEmpty(); }
      runCheck();
    }, function (err) {
      setStatus("error", "Cannot load the files: " + err.message);
    });
  }

  function showEmpty() {
    $("file-name").textContent = "No .policy, .rules, .md or .csv file in the served directory";
    source.value = "";
    source.readOnly = true;
    updateGutter();
  }

  function renderTabs() {
    var nav = $("file-tabs");
    clear(nav);
    state.files.forEach(function (f) {
      var b = add(nav, el("button", "tab", f.name));
      b.type = "button";
      b.dataset.name = f.name;
      b.setAttribute("aria-pressed", f.name === state.current ? "true" : "false");
      if (f.problem) { b.classList.add("tab-problem"); b.title = f.problem; }
      if (isDirty(f)) {
        var dot = add(b, el("span", "dirty", "\u25CF"));
        dot.title = "edited, not saved";
      }
      if (state.marks[f.name]) { b.classList.add("tab-marked"); }
      b.addEventListener("click", function () { showFile(f.name); });
    });
  }

  function showFile(name) {
    var f = state.byName[name];
    if (!f) { return; }
    state.current = name;
    source.value = f.text === null ? "" : f.text;
    source.readOnly = f.text === null;
    source.scrollTop = 0;
    source.scrollLeft = 0;
    $("file-name").textContent = name;
    updateFileState();
    updateGutter();
    renderMarks();
    renderTabs();
    syncScroll();
  }

  function updateFileState() {
    var f = state.byName[state.current];
    var label = $("file-state");
    var save = $("save");
    if (!f) { label.textContent = ""; save.disabled = true; return; }
    if (f.problem) {
      label.textContent = "cannot be edited here: " + f.problem;
      label.dataset.state = "problem";
    } else if (isDirty(f)) {
      label.textContent = "edited, not saved";
      label.dataset.state = "dirty";
    } else {
      label.textContent = "saved";
      label.dataset.state = "clean";
    }
    save.disabled = !isDirty(f);
  }

  function updateGutter() {
    var n = source.value.split("\n").length;
    if (gutter.dataset.lines === String(n)) { return; }
    var numbers = [];
    for (var i = 1; i <= n; i += 1) { numbers.push(i); }
    gutter.textContent = numbers.join("\n");
    gutter.dataset.lines = String(n);
  }

  function syncScroll() {
    var y = -source.scrollTop;
    gutter.style.transform = "translateY(" + y + "px)";
    marksLayer.style.transform = "translateY(" + y + "px)";
  }

  function renderMarks() {
    clear(marksLayer);
    var ranges = state.marks[state.current] || [];
    var m = metrics();
    ranges.forEach(function (r) {
      var bar = add(marksLayer, el("div", "mark"));
      bar.dataset.from = String(r[0]);
      bar.dataset.to = String(r[1]);
      bar.style.top = (m.pad + (r[0] - 1) * m.line) + "px";
      bar.style.height = ((r[1] - r[0] + 1) * m.line) + "px";
    });
  }

  function scrollToLine(line) {
    var m = metrics();
    var top = m.pad + (line - 1) * m.line;
    var view = source.clientHeight;
    if (top < source.scrollTop || top > source.scrollTop + view - 2 * m.line) {
      source.scrollTop = Math.max(0, top - view / 3);
    }
    syncScroll();
  }

  function placeCaret(line) {
    var lines = source.value.split("\n");
    var offset = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i += 1) { offset += lines[i].length + 1; }
    source.focus({ preventScroll: true });
    source.setSelectionRange(offset, offset);
    scrollToLine(line);
  }

  /* The lines of the fact whose header is on `line`: to the brace that closes its block (strings
   * and comments skipped), or that line alone (a CSV row, or no block in sight). */
  function factRange(file, line) {
    var lines = (file.text || "").split("\n");
    if (file.kind === "csv" || line < 1 || line > lines.length) { return [line, line]; }
    var depth = 0;
    var opened = false;
    for (var i = line - 1; i < lines.length && i < line + 2000; i += 1) {
      var s = lines[i];
      var inString = false;
      for (var j = 0; j < s.length; j += 1) {
        var c = s.charAt(j);
        if (inString) {
          if (c === "\\") { j += 1; } else if (c === "\"") { inString = false; }
          continue;
        }
        if (c === "\"") { inString = true; } else if (c === "#") { break; } else if (c === "{") {
          depth += 1;
          opened = true;
        } else if (c === "}") {
          depth -= 1;
          if (opened && depth <= 0) { return [line, i + 1]; }
        }
      }
      if (!opened && i >= line + 1) { break; }
    }
    return [line, line];
  }

  source.addEventListener("scroll", syncScroll);
  source.addEventListener("input", function () {
    var f = state.byName[state.current];
    if (!f || f.text === null) { return; }
    var wasDirty = isDirty(f);
    f.text = source.value;
    state.edits += 1;
    updateGutter();
    updateFileState();
    if (wasDirty !== isDirty(f)) { renderTabs(); }
    setStatus("stale", STALE);
    scheduleCheck(DEBOUNCE_MS);
  });
  doc.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && (e.key === "s" || e.key === "S")) {
      e.preventDefault();
      save();
    }
  });
  window.addEventListener("beforeunload", function (e) {
    if (state.files.some(isDirty)) { e.preventDefault(); e.returnValue = ""; }
  });

  // ---- checking ------------------------------------------------------------------------------------

  function scheduleCheck(ms) {
    window.clearTimeout(state.timer);
    state.timer = window.setTimeout(runCheck, ms);
  }

  /* A Markdown file joins the check when it holds a fenced policy or rules block: prose alone adds
   * nothing but a warning, and `coherence check DIR` reads such files without one. */
  var FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*(policy|rules)\b/m;

  function runCheck() {
    var files = {};
    state.files.forEach(function (f) {
      if (f.text !== null && (f.kind !== "markdown" || FENCE.test(f.text))) { files[f.name] = f.text; }
    });
    state.seq += 1;
    var seq = state.seq;
    var edits = state.edits;
    if (state.controller) { state.controller.abort(); }
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    state.controller = controller;
    setStatus("checking", "Checking\u2026");
    api("POST", "/api/check", { files: files }, controller && controller.signal).then(function (report) {
      if (seq !== state.seq) { return; }
      state.controller = null;
      state.report = report;
      renderReport();
      if (edits === state.edits) {
        var n = (report.findings || []).length;
        var errors = (report.diagnostics || []).filter(function (d) { return d.severity === "error"; }).length;
        setStatus("fresh", "Up to date \u00B7 " + (errors ? plural(errors, "error") : plural(n, "finding")));
        statusLine.dataset.errors = errors ? "true" : "false";
      } else {
        setStatus("stale", STALE);
      }
    }, function (err) {
      if (err && err.name === "AbortError") { return; }
      if (seq !== state.seq) { return; }
      state.controller = null;
      setStatus("error", "Check failed: " + err.message);
    });
  }

  // ---- the report ---------------------------------------------------------------------------------

  function renderReport() {
    var r = state.report;
    var errors = (r.diagnostics || []).filter(function (d) { return d.severity === "error"; });
    $("summary").textContent = errors.length
      ? "The set does not check: " + plural(errors.length, "error") + " to fix before it can be checked."
      : summaryText(r) + " in " + plural((r.summary || {}).facts || 0, "fact") + ", " +
        plural((r.summary || {}).criteria_run || 0, "criterion", "criteria") + ".";
    renderDiagnostics(r.diagnostics || []);
    renderFindings(r.findings || []);
    var selected = state.selected && (r.findings || []).filter(function (f) {
      return f.fingerprint === state.selected;
    })[0];
    if (selected) {
      select(selected, false);
    } else if (state.selected) {
      state.selected = null;
      state.marks = Object.create(null);
      renderMarks();
      renderTabs();
    }
  }

  function renderDiagnostics(diags) {
    var box = $("diagnostics");
    clear(box);
    if (!diags.length) { return; }
    add(box, el("h2", "pane-title", "Diagnostics"));
    var list = add(box, el("ul", "diags"));
    diags.forEach(function (d) {
      var li = add(list, el("li", "diag"));
      li.dataset.code = d.code || "";
      var head = add(li, el("div", "diag-head"));
      var sev = d.severity === "error" || d.severity === "warning" ? d.severity : "other";
      add(head, el("span", "sev sev-" + sev, d.severity));
      add(head, el("span", "code", d.code));
      add(head, el("span", "diag-message", d.message));
      if (d.file) {
        var where = d.file + (d.line ? ":" + d.line + (d.column ? ":" + d.column : "") : "");
        var target = state.byName[d.file];
        if (target && d.line) {
          var link = add(li, el("button", "loc link", where));
          link.type = "button";
          link.addEventListener("click", function () { jumpTo(d.file, d.line, [[d.line, d.end_line || d.line]]); });
        } else {
          add(li, el("span", "loc", where));
        }
      }
      if (d.help) { add(li, el("p", "diag-help", "help: " + d.help)); }
      (d.notes || []).forEach(function (n) { add(li, el("p", "diag-note", "note: " + n)); });
    });
  }

  function renderFindings(findings) {
    var box = $("findings");
    clear(box);
    if (!findings.length) {
      if (!(state.report.diagnostics || []).some(function (d) { return d.severity === "error"; })) {
        add(box, el("p", "note", "No conflicts or synergies found."));
      }
      return;
    }
    add(box, el("h2", "pane-title", "Findings"));
    findings.forEach(function (f) { add(box, findingCard(f)); });
  }

  function findingCard(f) {
    var score = own(vocab.score, String(f.score)) || { text: "?", label: f.label, meaning: "", cls: "s-na" };
    var status = own(vocab.status, f.status);
    var card = el("article", "finding " + score.cls);
    card.dataset.fingerprint = f.fingerprint;
    card.dataset.criterion = f.criterion;
    card.dataset.status = f.status;
    card.tabIndex = 0;
    if (f.fingerprint === state.selected) { card.classList.add("selected"); }

    var head = add(card, el("header", "finding-head"));
    var badge = add(head, el("span", "badge " + score.cls, score.text + " " + score.label));
    badge.title = score.meaning;
    var title = add(head, el("h3", "finding-title"));
    add(title, el("span", "code", f.criterion));
    title.appendChild(doc.createTextNode(" " + f.title));
    var st = add(head, el("span", "status st-" + (status ? f.status : "other"), status ? status.name : f.status));
    if (status) { st.title = status.note; }

    add(card, el("p", "message", f.message));
    if (f.advice) {
      var advice = add(card, el("p", "advice"));
      add(advice, el("strong", null, "What to do:"));
      addCodeSpans(advice, " " + f.advice);
    }
    if (f.acceptance) {
      var expired = f.status === "expired";
      var acc = add(card, el("p", "acceptance acc-" + (expired ? "expired" : "accepted")));
      var lead = (expired ? "Trade-off lapsed" : "Accepted trade-off") +
        (f.acceptance.until ? " (" + (expired ? "expired after " : "until ") + f.acceptance.until + ")" : "") + ":";
      add(acc, el("strong", null, lead));
      acc.appendChild(doc.createTextNode(" " + f.acceptance.reason));
      if (f.acceptance.location) { add(acc, el("span", "loc", " " + locText(f.acceptance.location))); }
    }

    var details = f.fact_details || [];
    if (details.length) {
      var arts = add(card, el("div", "articles"));
      add(arts, el("h5", null, "Articles involved"));
      var ul = add(arts, el("ul"));
      details.forEach(function (d) {
        var li = add(ul, el("li"));
        var target = d.location && state.byName[d.location.file];
        if (target && target.text !== null) {
          var link = add(li, el("button", "fact-id link", d.id));
          link.type = "button";
          link.title = "Show " + d.id + " in " + d.location.file;
          link.addEventListener("click", function (e) {
            e.stopPropagation();
            select(f, false);
            jumpTo(d.location.file, d.location.line, null, true);
          });
        } else {
          add(li, el("span", "fact-id", d.id));
        }
        if (d.type) { li.appendChild(doc.createTextNode(" ")); add(li, el("span", "tag", d.type)); }
        if (d.title) { li.appendChild(doc.createTextNode(" " + d.title)); }
        if (d.cite) { li.appendChild(doc.createTextNode(" ")); add(li, el("span", "cite", d.cite)); }
        if (d.location) { li.appendChild(doc.createTextNode(" ")); add(li, el("span", "loc", locText(d.location))); }
      });
    }

    var actions = add(card, el("div", "finding-actions"));
    var show = add(actions, el("button", "btn", "Show the lines"));
    show.type = "button";
    show.addEventListener("click", function (e) { e.stopPropagation(); select(f, true); });
    if (f.score < 0 && f.status !== "accepted") {
      var accept = add(actions, el("button", "btn", "Record an accepted trade-off\u2026"));
      accept.type = "button";
      accept.dataset.action = "accept";
      accept.addEventListener("click", function (e) { e.stopPropagation(); openAccept(f); });
    }
    add(actions, el("span", "mono fingerprint", f.fingerprint));

    var why = add(card, el("details", "why"));
    add(why, el("summary", null, "Show the proof"));
    why.addEventListener("toggle", function () {
      if (why.open) {
        state.openProofs[f.fingerprint] = true;
        if (!why.querySelector("ul.tree")) { why.appendChild(proofTree(f)); }
      } else {
        delete state.openProofs[f.fingerprint];
      }
    });
    if (state.openProofs[f.fingerprint]) { why.open = true; why.appendChild(proofTree(f)); }

    card.addEventListener("click", function (e) {
      if (e.target.closest("button, summary, a, details > *:not(summary)")) { return; }
      select(f, true);
    });
    card.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && e.target === card) { select(f, true); }
    });
    return card;
  }

  function proofTree(f) {
    var root = el("ul", "tree");
    var count = 0;
    var cut = false;
    function node(n, parent, depth) {
      if (!n || typeof n !== "object") { return; }
      if (count >= TRACE_MAX_NODES) { cut = true; return; }
      count += 1;
      var kind = typeof n.kind === "string" ? n.kind : "";
      var known = own(vocab.trace, kind);
      var li = add(parent, el("li", "node node-" + (known ? kind : "other")));
      add(li, el("span", "kind", known ? known.name : (kind || "node")));
      if (kind === "derivation" && n.rule) { li.appendChild(doc.createTextNode(" ")); add(li, el("span", "rule", n.rule)); }
      if (n.id) { li.appendChild(doc.createTextNode(" ")); add(li, el("span", "fact-id", n.id)); }
      var text = n.text || (kind === "criterion" ? f.title : "") || n.type;
      if (text) { li.appendChild(doc.createTextNode(" ")); add(li, el("span", "node-text", text)); }
      if (kind !== "derivation" && n.rule) { li.appendChild(doc.createTextNode(" ")); add(li, el("span", "rule", "rule " + n.rule)); }
      if (n.cite) { li.appendChild(doc.createTextNode(" ")); add(li, el("span", "cite", n.cite)); }
      if (n.location) { li.appendChild(doc.createTextNode(" ")); add(li, el("span", "loc", locText(n.location))); }
      var children = Array.isArray(n.children) ? n.children : [];
      if (children.length) {
        if (depth + 1 >= TRACE_MAX_DEPTH) { cut = true; return; }
        var ul = add(li, el("ul"));
        children.forEach(function (c) { node(c, ul, depth + 1); });
      }
    }
    node(f.trace, root, 0);
    if (!cut) { return root; }
    var wrap = el("div");
    wrap.appendChild(root);
    add(wrap, el("p", "note", "The proof is longer than this page shows; see the JSON report for all of it."));
    return wrap;
  }

  // ---- selecting a finding: its facts' lines highlighted ------------------------------------------------

  function select(f, jump) {
    state.selected = f.fingerprint;
    Array.prototype.forEach.call(doc.querySelectorAll("#findings .finding"), function (c) {
      c.classList.toggle("selected", c.dataset.fingerprint === f.fingerprint);
    });
    state.marks = Object.create(null);
    var firstLine = Object.create(null);
    (f.fact_details || []).forEach(function (d) {
      var loc = d.location;
      var file = loc && state.byName[loc.file];
      if (!file || file.text === null) { return; }
      (state.marks[file.name] = state.marks[file.name] || []).push(factRange(file, loc.line));
      if (!firstLine[file.name] || loc.line < firstLine[file.name]) { firstLine[file.name] = loc.line; }
    });
    var primary = f.location && state.marks[f.location.file] ? f.location.file : Object.keys(state.marks)[0];
    if (jump && primary) {
      if (primary !== state.current) { showFile(primary); }
      scrollToLine(f.location && f.location.file === primary ? f.location.line : firstLine[primary]);
    }
    renderMarks();
    renderTabs();
  }

  function jumpTo(name, line, ranges, caret) {
    if (ranges) { state.marks = Object.create(null); state.marks[name] = ranges; }
    if (name !== state.current) { showFile(name); }
    renderMarks();
    renderTabs();
    if (caret) { placeCaret(line); } else { scrollToLine(line); }
  }

  // ---- saving --------------------------------------------------------------------------------------

  function saveMessage(kind, text, reloadable) {
    var box = $("save-message");
    box.dataset.kind = kind;
    $("save-text").textContent = text;
    $("reload-file").hidden = !reloadable;
    box.hidden = false;
  }

  function save() {
    var f = state.byName[state.current];
    if (!f || !isDirty(f)) { return; }
    var text = f.text;
    var name = f.name;
    $("save").disabled = true;
    api("PUT", fileUrl(name), { text: text, version: f.version }).then(function (res) {
      f.base = text;
      f.version = res.version;
      updateFileState();
      renderTabs();
      saveMessage("ok", "Saved " + name + ".", false);
    }, function (err) {
      updateFileState();
      if (err.status === 409) {
        saveMessage("conflict", "Not saved: " + name + " changed on disk since you loaded it (409). Reload it " +
          "from disk to see the new text (your edits here are then replaced; copy them first to keep them).", true);
      } else {
        saveMessage("error", "Not saved: " + err.message, false);
      }
    });
  }

  function reloadCurrent() {
    var name = state.current;
    api("GET", "/api/files").then(function (data) {
      var entry = data.files.filter(function (e) { return e.name === name; })[0];
      var f = state.byName[name];
      if (!entry || !f) { saveMessage("error", name + " is no longer in the served directory.", false); return; }
      f.text = entry.text;
      f.base = entry.text;
      f.version = entry.version;
      f.problem = entry.problem;
      showFile(name);
      saveMessage("ok", "Reloaded " + name + " from disk.", false);
      state.edits += 1;
      runCheck();
    }, function (err) { saveMessage("error", "Cannot reload: " + err.message, false); });
  }

  $("save").addEventListener("click", save);
  $("reload-file").addEventListener("click", reloadCurrent);

  // ---- accepting a trade-off ----------------------------------------------------------------------------

  var acceptForm = $("accept-form");

  function acceptMessage(kind, text) {
    var m = $("accept-message");
    m.dataset.kind = kind;
    m.textContent = text;
    m.hidden = !text;
  }

  function openAccept(f) {
    state.acceptFor = f;
    $("accept-what").textContent = "accept " + f.criterion + " on [" + (f.facts || []).join(", ") + "]";
    var select = $("accept-file");
    clear(select);
    var choices = state.files.filter(function (x) {
      return x.text !== null && (x.kind === "policy" || x.kind === "markdown");
    });
    var preferred = f.location && own(state.byName, f.location.file);
    choices.forEach(function (x) {
      var o = add(select, el("option", null, x.name));
      o.value = x.name;
      if (preferred && preferred.name === x.name) { o.selected = true; }
    });
    $("accept-reason").value = "";
    $("accept-until").value = "";
    acceptMessage("", "");
    acceptForm.hidden = false;
    $("accept-reason").focus();
  }

  acceptForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var f = state.acceptFor;
    var file = state.byName[$("accept-file").value];
    if (!f || !file) { acceptMessage("error", "Choose a file to record the trade-off in."); return; }
    var body = { file: file.name, version: file.version, criterion: f.criterion, ids: f.facts,
                 reason: $("accept-reason").value, until: $("accept-until").value || null };
    api("POST", "/api/accept", body).then(function (res) {
      // the buffer keeps unsaved edits: the statement is appended to it as it was to the file
      file.text = isDirty(file) ? file.text + res.appended : res.text;
      file.base = res.text;
      file.version = res.version;
      if (state.current === file.name) {
        var top = source.scrollTop;
        source.value = file.text;
        source.scrollTop = top;
        updateGutter();
        updateFileState();
      }
      renderTabs();
      acceptForm.hidden = true;
      saveMessage("ok", "Recorded in " + file.name + ": " + res.statement, false);
      state.edits += 1;
      runCheck();
    }, function (err) {
      if (err.status === 409) {
        acceptMessage("conflict", "Not recorded: " + file.name + " changed on disk since you loaded it (409). " +
          "Reload it from disk first.");
      } else {
        acceptMessage("error", "Not recorded: " + err.message);
      }
    });
  });
  $("accept-cancel").addEventListener("click", function () { acceptForm.hidden = true; });

  window.addEventListener("resize", renderMarks);
  loadFiles();
}());
