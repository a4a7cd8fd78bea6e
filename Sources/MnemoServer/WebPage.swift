import Foundation
import HTTPTypes
import Hummingbird

/// The memory browser `mnemo serve` serves at `/`: one HTML page, its style sheet and its script, written
/// for Mnemo and compiled into the binary (no CDN, no build step). It uses the JSON API like any client:
/// search, the document list, add and upload, streamed ask. Every text from the store reaches the page
/// through `textContent`, never as HTML, and the Content-Security-Policy allows only these three files.
enum WebPage {
    /// The page's own paths: served without a token (they hold no data; the API calls they make carry it).
    static let paths: Set<String> = ["/", "/app.css", "/app.js"]

    static let headers: HTTPFields = [
        .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-cache",
    ]

    static func register(on router: Router<HTTPServer.Context>) {
        for (path, type, body) in [("/", "text/html; charset=utf-8", html), ("/app.css", "text/css; charset=utf-8", css),
                                   ("/app.js", "text/javascript; charset=utf-8", script)] {
            router.get(RouterPath(path)) { _, _ in
                var fields = headers
                fields[.contentType] = type
                return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
            }
        }
    }

    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Mnemo memory</title>
    <link rel="stylesheet" href="/app.css">
    <script src="/app.js" defer></script>
    </head>
    <body>
    <header>
      <h1>Mnemo</h1>
      <dl id="facts" aria-label="Store facts"></dl>
    </header>

    <section id="auth" hidden aria-labelledby="auth-title">
      <h2 id="auth-title">Token needed</h2>
      <p>This server asks for its bearer token. It is kept for this tab only.</p>
      <form id="auth-form">
        <label for="auth-token">Bearer token</label>
        <input id="auth-token" type="password" autocomplete="off" required>
        <button type="submit">Use token</button>
      </form>
      <p class="error" id="auth-error" role="alert"></p>
    </section>

    <nav aria-label="Views">
      <button type="button" class="tab" id="tab-search" aria-controls="view-search" aria-pressed="true">Search</button>
      <button type="button" class="tab" id="tab-documents" aria-controls="view-documents" aria-pressed="false">Documents</button>
      <button type="button" class="tab" id="tab-add" aria-controls="view-add" aria-pressed="false">Add</button>
      <button type="button" class="tab" id="tab-ask" aria-controls="view-ask" aria-pressed="false">Ask</button>
    </nav>

    <datalist id="namespaces"></datalist>
    <main>
    <section id="view-search" class="view" aria-labelledby="search-title">
      <h2 id="search-title">Search</h2>
      <form id="search-form" class="grid">
        <label for="search-query">Query</label>
        <input id="search-query" type="search" required>
        <label for="search-mode">Mode</label>
        <select id="search-mode"><option value="hybrid">hybrid</option><option value="dense">dense</option><option value="bm25">BM25</option></select>
        <label for="search-k">Results (k)</label>
        <input id="search-k" type="number" min="1" max="100" value="5">
        <label for="search-namespace">Namespace</label>
        <input id="search-namespace" type="text" list="namespaces" placeholder="all">
        <label for="search-where">Metadata filters</label>
        <textarea id="search-where" rows="2" placeholder="key=value, one per line"></textarea>
        <button type="submit">Search</button>
      </form>
      <p class="error" id="search-error" role="alert"></p>
      <ol id="search-results" class="results" aria-live="polite"></ol>
    </section>

    <section id="view-documents" class="view" hidden aria-labelledby="documents-title">
      <h2 id="documents-title">Documents</h2>
      <form id="documents-form" class="inline">
        <label for="documents-namespace">Namespace</label>
        <input id="documents-namespace" type="text" list="namespaces" placeholder="all">
        <button type="submit">Show</button>
      </form>
      <p class="error" id="documents-error" role="alert"></p>
      <div class="table-wrap">
      <table id="documents-table">
        <caption id="documents-caption">Documents</caption>
        <thead><tr><th scope="col">Source</th><th scope="col">Namespace</th><th scope="col">Chunks</th><th scope="col">Bytes</th><th scope="col">Indexed</th><th scope="col">Actions</th></tr></thead>
        <tbody></tbody>
      </table>
      </div>
      <div class="pager">
        <button type="button" id="documents-prev">Previous page</button>
        <span id="documents-page" aria-live="polite"></span>
        <button type="button" id="documents-next">Next page</button>
      </div>
      <section id="document" hidden aria-labelledby="document-title">
        <h3 id="document-title" tabindex="-1"></h3>
        <ol id="document-chunks" class="chunks"></ol>
      </section>
    </section>

    <section id="view-add" class="view" hidden aria-labelledby="add-title">
      <h2 id="add-title">Add</h2>
      <form id="note-form" class="grid">
        <label for="note-text">Note</label>
        <textarea id="note-text" rows="5" required></textarea>
        <label for="note-source">Source name</label>
        <input id="note-source" type="text" placeholder="memory: and the text's hash">
        <label for="note-namespace">Namespace</label>
        <input id="note-namespace" type="text" list="namespaces" value="default">
        <label for="note-metadata">Metadata</label>
        <textarea id="note-metadata" rows="2" placeholder="key=value, one per line"></textarea>
        <button type="submit">Add note</button>
      </form>
      <form id="file-form" class="grid">
        <label for="file-input">File (.txt .md .html .jsonl .pdf)</label>
        <input id="file-input" type="file" accept=".txt,.text,.md,.markdown,.html,.htm,.jsonl,.pdf" required>
        <label for="file-namespace">Namespace</label>
        <input id="file-namespace" type="text" list="namespaces" value="default">
        <button type="submit">Upload file</button>
      </form>
      <p class="status" id="add-status" role="status"></p>
      <p class="error" id="add-error" role="alert"></p>
    </section>

    <section id="view-ask" class="view" hidden aria-labelledby="ask-title">
      <h2 id="ask-title">Ask</h2>
      <form id="ask-form" class="grid">
        <label for="ask-question">Question</label>
        <input id="ask-question" type="text" required>
        <label for="ask-k">Notes (k)</label>
        <input id="ask-k" type="number" min="1" max="20" value="3">
        <label for="ask-namespace">Namespace</label>
        <input id="ask-namespace" type="text" list="namespaces" placeholder="all">
        <button type="submit">Ask</button>
      </form>
      <p class="error" id="ask-error" role="alert"></p>
      <div id="ask-output" aria-live="polite">
        <p id="ask-answer" class="answer"></p>
        <p id="ask-meta" class="meta"></p>
        <ol id="ask-sources" class="results"></ol>
      </div>
    </section>
    </main>
    </body>
    </html>
    """#

    static let css = #"""
    :root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0a57c2; --mark: #fff1a8; --bad: #b3261e; --bg: #fff; }
    * { box-sizing: border-box; }
    body { margin: 0 auto; max-width: 70rem; padding: 0.75rem; font: 16px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
    header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.5rem 1.5rem; border-bottom: 1px solid var(--line); }
    h1 { margin: 0.25rem 0; font-size: 1.5rem; }
    h2 { font-size: 1.2rem; }
    #facts { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; margin: 0.25rem 0; font-size: 0.9rem; color: var(--muted); }
    #facts div { display: flex; gap: 0.3rem; }
    #facts dt { font-weight: 600; }
    #facts dd { margin: 0; }
    nav { display: flex; flex-wrap: wrap; gap: 0.4rem; margin: 0.75rem 0; }
    button { font: inherit; padding: 0.35rem 0.8rem; border: 1px solid var(--line); border-radius: 6px; background: #f6f8fa; color: var(--fg); cursor: pointer; }
    button[aria-pressed="true"] { background: var(--accent); color: #fff; border-color: var(--accent); }
    button.danger { color: var(--bad); }
    :focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
    input, select, textarea { font: inherit; padding: 0.3rem 0.45rem; border: 1px solid var(--line); border-radius: 6px; width: 100%; }
    form.grid { display: grid; grid-template-columns: minmax(8rem, max-content) 1fr; gap: 0.45rem 0.75rem; align-items: center; margin-bottom: 1rem; }
    form.grid button { grid-column: 2; justify-self: start; }
    form.inline { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
    form.inline input { width: auto; flex: 1 1 10rem; }
    .results, .chunks { padding-left: 1.5rem; }
    .results li, .chunks li { margin: 0.6rem 0; padding: 0.5rem 0.6rem; border: 1px solid var(--line); border-radius: 6px; }
    .results .head { font-size: 0.9rem; color: var(--muted); display: flex; flex-wrap: wrap; gap: 0.2rem 0.8rem; }
    .results .text, .chunks .text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.3rem 0; }
    mark { background: var(--mark); color: inherit; }
    .chunks li.here { border: 2px solid var(--accent); background: #eef4ff; }
    .error { color: var(--bad); font-weight: 600; }
    .error:empty, .status:empty { display: none; }
    .answer { font-size: 1.15rem; white-space: pre-wrap; min-height: 1.5rem; }
    .meta { color: var(--muted); font-size: 0.9rem; }
    .table-wrap { overflow-x: auto; }
    table { border-collapse: collapse; width: 100%; font-size: 0.95rem; }
    caption { text-align: left; color: var(--muted); padding: 0.3rem 0; }
    th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
    td.actions { white-space: nowrap; }
    .pager { display: flex; gap: 0.75rem; align-items: center; margin: 0.6rem 0; }
    #auth { border: 2px solid var(--accent); border-radius: 8px; padding: 0 1rem 0.5rem; margin: 0.75rem 0; }
    #auth form { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
    #auth input { width: auto; flex: 1 1 12rem; }
    @media (max-width: 600px) {
      form.grid { grid-template-columns: 1fr; }
      form.grid button { grid-column: 1; }
      th:nth-child(2), td:nth-child(2), th:nth-child(4), td:nth-child(4) { display: none; }
    }
    """#

    static let script = #"""
    "use strict";
    // Mnemo's memory browser. Every text from the store is set with textContent: never parsed as HTML.
    const $ = (id) => document.getElementById(id);
    const tokenKey = "mnemo-token";
    const pageSize = 20;
    let documentsOffset = 0;

    function el(tag, text, cls) {
      const e = document.createElement(tag);
      if (text !== undefined && text !== null) e.textContent = String(text);
      if (cls) e.className = cls;
      return e;
    }

    function showError(id, message) { $(id).textContent = message || ""; }

    class APIError extends Error {}

    // The API with the tab's token; a 401 shows the token form. Errors come back in words.
    async function api(path, options = {}) {
      const headers = Object.assign({}, options.headers || {});
      const token = sessionStorage.getItem(tokenKey);
      if (token) headers["Authorization"] = "Bearer " + token;
      let response;
      try {
        response = await fetch(path, Object.assign({}, options, { headers }));
      } catch (e) {
        throw new APIError("The server did not answer (" + e.message + "). Is mnemo serve still running?");
      }
      if (response.status === 401) {
        askForToken(token ? "The token was not accepted." : "");
        throw new APIError("This server needs its bearer token (enter it above).");
      }
      if (!response.ok) {
        let message = "The server answered " + response.status + ".";
        try {
          const body = await response.json();
          if (body && body.error && body.error.message) message = body.error.message;
        } catch (_) { /* not JSON: keep the status */ }
        throw new APIError(message);
      }
      return response;
    }

    async function getJSON(path, options) { return (await api(path, options)).json(); }

    function askForToken(message) {
      $("auth").hidden = false;
      showError("auth-error", message);
      $("auth-token").focus();
    }

    function pairs(text) {
      const out = {};
      for (const line of text.split("\n")) {
        const t = line.trim();
        if (!t) continue;
        const i = t.indexOf("=");
        if (i <= 0) throw new APIError("'" + t + "' is not key=value.");
        out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
      }
      return out;
    }

    function bytes(n) {
      if (n < 1024) return n + " B";
      if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
      return (n / 1048576).toFixed(1) + " MiB";
    }

    // The text with the query's words marked: text nodes and <mark> elements, built one by one.
    function marked(text, query) {
      const span = el("div", null, "text");
      const words = [...new Set((query.toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) || []))];
      if (!words.length) { span.textContent = text; return span; }
      const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      const pattern = new RegExp("(" + escaped.join("|") + ")", "giu");
      let last = 0;
      for (const m of text.matchAll(pattern)) {
        if (m.index > last) span.appendChild(document.createTextNode(text.slice(last, m.index)));
        span.appendChild(el("mark", m[0]));
        last = m.index + m[0].length;
      }
      if (last < text.length) span.appendChild(document.createTextNode(text.slice(last)));
      return span;
    }

    // Views
    const views = ["search", "documents", "add", "ask"];
    function show(view) {
      for (const v of views) {
        $("view-" + v).hidden = v !== view;
        $("tab-" + v).setAttribute("aria-pressed", String(v === view));
      }
      if (view === "documents") loadDocuments();
    }

    async function loadFacts() {
      const facts = $("facts");
      try {
        const [stats, health] = await Promise.all([getJSON("/v1/memory/stats"), getJSON("/health")]);
        facts.replaceChildren();
        const items = [["Documents", stats.documents], ["Chunks", stats.chunks], ["Index", stats.index_kind],
                       ["Disk", bytes(stats.database_bytes + stats.index_bytes)], ["Encoder", stats.encoder], ["Model", health.model],
                       ["Namespaces", Object.entries(stats.namespaces).map(([n, c]) => n + " (" + c + ")").join(", ") || "none"]];
        // A shared store: where this node's replica stands, and whether the database can be reached.
        if (health.store) {
          items.push(["Shared store", health.store.store]);
          items.push(["Replica", "change " + health.store.applied_seq + " of " + health.store.head_seq
                      + (health.store.stale ? " — stale: the database cannot be reached, searches read the replica" : "")]);
        }
        $("namespaces").replaceChildren(...Object.keys(stats.namespaces).sort().map((n) => { const o = el("option"); o.value = n; return o; }));
        for (const [k, v] of items) {
          const d = el("div");
          d.append(el("dt", k), el("dd", v));
          facts.appendChild(d);
        }
        $("auth").hidden = true;
      } catch (e) {
        facts.replaceChildren(el("div", e.message, "error"));
      }
    }

    async function search(event) {
      event.preventDefault();
      showError("search-error", "");
      const list = $("search-results");
      const query = $("search-query").value;
      try {
        const body = { query, mode: $("search-mode").value, k: Number($("search-k").value) || 5, where: pairs($("search-where").value) };
        const ns = $("search-namespace").value.trim();
        if (ns) body.namespace = ns;
        const result = await getJSON("/v1/memory/search", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        list.replaceChildren();
        if (!result.data.length) list.appendChild(el("li", "Nothing found."));
        for (const hit of result.data) {
          const li = el("li");
          li.dataset.chunk = hit.chunk_id;
          const head = el("div", null, "head");
          head.append(el("span", hit.source, "source"), el("span", "bytes " + hit.start_byte + "–" + hit.end_byte),
                      el("span", "score " + hit.score.toFixed(3)), el("span", "namespace " + hit.namespace));
          const open = el("button", "Open document");
          open.type = "button";
          open.addEventListener("click", () => openDocument(hit.source, hit.namespace, hit.chunk_id));
          li.append(head, marked(hit.text, query), open);
          list.appendChild(li);
        }
      } catch (e) {
        list.replaceChildren();
        showError("search-error", e.message);
      }
    }

    async function loadDocuments() {
      showError("documents-error", "");
      const ns = $("documents-namespace").value.trim();
      const params = new URLSearchParams({ offset: String(documentsOffset), limit: String(pageSize) });
      if (ns) params.set("namespace", ns);
      const tbody = $("documents-table").querySelector("tbody");
      try {
        const page = await getJSON("/v1/memory/documents?" + params);
        tbody.replaceChildren();
        for (const doc of page.data) {
          const tr = el("tr");
          tr.dataset.source = doc.source;
          tr.append(el("td", doc.source), el("td", doc.namespace), el("td", doc.chunks), el("td", bytes(doc.bytes)), el("td", doc.indexed_at.replace("T", " ").replace("Z", " UTC")));
          const actions = el("td", null, "actions");
          const open = el("button", "Open");
          open.type = "button";
          open.setAttribute("aria-label", "Open " + doc.source);
          open.addEventListener("click", () => openDocument(doc.source, doc.namespace, null));
          const del = el("button", "Delete", "danger");
          del.type = "button";
          del.setAttribute("aria-label", "Delete " + doc.source);
          del.addEventListener("click", () => deleteDocument(doc.source, doc.namespace));
          actions.append(open, " ", del);
          tr.appendChild(actions);
          tbody.appendChild(tr);
        }
        const first = page.total ? documentsOffset + 1 : 0;
        const last = documentsOffset + page.data.length;
        $("documents-page").textContent = first + "–" + last + " of " + page.total;
        $("documents-caption").textContent = page.total + " documents" + (ns ? " in namespace " + ns : "");
        $("documents-prev").disabled = documentsOffset === 0;
        $("documents-next").disabled = last >= page.total;
      } catch (e) {
        showError("documents-error", e.message);
      }
    }

    async function deleteDocument(source, namespace) {
      if (!window.confirm("Delete " + source + " from namespace " + namespace + "? Its chunks leave the store.")) return;
      try {
        const params = new URLSearchParams({ source, namespace });
        await api("/v1/memory/documents?" + params, { method: "DELETE" });
        $("document").hidden = true;
        await loadDocuments();
        loadFacts();
      } catch (e) {
        showError("documents-error", e.message);
      }
    }

    async function openDocument(source, namespace, chunkID) {
      show("documents");
      try {
        const params = new URLSearchParams({ source, namespace });
        const doc = await getJSON("/v1/memory/documents/chunks?" + params);
        $("document").hidden = false;
        $("document-title").textContent = source + " (" + namespace + ")";
        const list = $("document-chunks");
        list.replaceChildren();
        let here = null;
        for (const chunk of doc.data) {
          const li = el("li");
          li.dataset.chunk = chunk.id;
          li.append(el("div", "bytes " + chunk.start_byte + "–" + chunk.end_byte, "meta"), el("div", chunk.text, "text"));
          if (chunk.id === chunkID) { li.className = "here"; li.setAttribute("aria-current", "true"); here = li; }
          list.appendChild(li);
        }
        $("document-title").focus();
        if (here) here.scrollIntoView({ block: "center" });
      } catch (e) {
        showError("documents-error", e.message);
      }
    }

    // Adds a note or a file: `request` returns the POST's path and options; the status line says what was stored.
    async function add(event, request) {
      event.preventDefault();
      showError("add-error", "");
      $("add-status").textContent = "";
      try {
        const [path, options] = request();
        const added = await getJSON(path, Object.assign({ method: "POST" }, options));
        $("add-status").textContent = (added.changed ? "Added " : "Already stored: ") + added.source + " (" + added.chunk_ids.length + " chunks).";
        loadFacts();
      } catch (e) {
        showError("add-error", e.message);
      }
    }

    function noteRequest() {
      const body = { text: $("note-text").value, namespace: $("note-namespace").value.trim() || "default", metadata: pairs($("note-metadata").value) };
      const source = $("note-source").value.trim();
      if (source) body.source = source;
      return ["/v1/memory/documents", { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }];
    }

    function fileRequest() {
      const file = $("file-input").files[0];
      if (!file) throw new APIError("Choose a file first.");
      const params = new URLSearchParams({ name: file.name, namespace: $("file-namespace").value.trim() || "default" });
      return ["/v1/memory/files?" + params, { headers: { "Content-Type": "application/octet-stream" }, body: file }];
    }

    // The answer streams in over server-sent events: {"token"} pieces, then {"result"} with the sources.
    async function ask(event) {
      event.preventDefault();
      showError("ask-error", "");
      const answer = $("ask-answer"), meta = $("ask-meta"), sources = $("ask-sources");
      answer.textContent = "";
      meta.textContent = "Thinking…";
      sources.replaceChildren();
      const body = { question: $("ask-question").value, k: Number($("ask-k").value) || 3, stream: true };
      const ns = $("ask-namespace").value.trim();
      if (ns) body.namespace = ns;
      try {
        const response = await api("/v1/memory/ask", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const line = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (!line.startsWith("data: ")) continue;
            const event = JSON.parse(line.slice(6));
            if (event.token !== undefined) { answer.textContent += event.token; meta.textContent = "Answering…"; }
            else if (event.result) showAnswer(event.result);
            else if (event.error) throw new APIError(event.error.message);
          }
        }
      } catch (e) {
        meta.textContent = "";
        showError("ask-error", e.message);
      }
    }

    function showAnswer(result) {
      $("ask-answer").textContent = result.answer;
      const seconds = (result.retrieval_seconds + result.prefill_seconds + result.decode_seconds).toFixed(1);
      $("ask-meta").textContent = "Context: " + result.context + " · " + result.context_tokens + " context tokens · " + seconds + " s" +
        (result.answerable ? "" : " · not in your notes");
      const list = $("ask-sources");
      list.replaceChildren();
      for (const s of result.sources) {
        const li = el("li");
        li.value = s.number;
        const head = el("div", null, "head");
        head.append(el("span", "[" + s.number + "] " + s.source, "source"), el("span", "score " + s.score.toFixed(3)));
        li.append(head, el("div", s.text, "text"));
        list.appendChild(li);
      }
    }

    document.addEventListener("DOMContentLoaded", () => {
      for (const v of views) $("tab-" + v).addEventListener("click", () => show(v));
      $("search-form").addEventListener("submit", search);
      $("documents-form").addEventListener("submit", (e) => { e.preventDefault(); documentsOffset = 0; loadDocuments(); });
      $("documents-prev").addEventListener("click", () => { documentsOffset = Math.max(0, documentsOffset - pageSize); loadDocuments(); });
      $("documents-next").addEventListener("click", () => { documentsOffset += pageSize; loadDocuments(); });
      $("note-form").addEventListener("submit", (e) => add(e, noteRequest));
      $("file-form").addEventListener("submit", (e) => add(e, fileRequest));
      $("ask-form").addEventListener("submit", ask);
      $("auth-form").addEventListener("submit", (e) => {
        e.preventDefault();
        sessionStorage.setItem(tokenKey, $("auth-token").value);
        $("auth-token").value = "";
        showError("auth-error", "");
        loadFacts();
      });
      loadFacts();
    });
    """#
}
