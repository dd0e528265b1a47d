// The dashboard page: figures and detections arrive as Server-Sent Events from the local
// server (/events); nothing here talks to the broker. Boxes: each detection's bbox is the
// centre (x, y) and size (width, height) in pixels of the inference frame.
"use strict";

const CANVAS_WIDTH = 480;
const frames = new Map(); // source -> {w, h}: the video's size, else the largest extent seen
const errors = [];

function note(message) {
  errors.push(String(message));
  const box = document.getElementById("errors");
  box.hidden = false;
  box.textContent = errors.join("\n");
}
window.addEventListener("error", (e) => note(e.message));

function text(id, value) {
  document.getElementById(id).textContent = value;
}

function num(value, digits) {
  return value === null || value === undefined ? "-" : Number(value).toFixed(digits);
}

function fillTable(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement("tr");
      for (const cell of cells) {
        const td = document.createElement("td");
        td.textContent = cell;
        tr.append(td);
      }
      return tr;
    })
  );
}

function plot(series) {
  const canvas = document.getElementById("plot");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const top = Math.max(1, ...series);
  const step = canvas.width / Math.max(series.length, 1);
  ctx.fillStyle = "#6c6";
  series.forEach((v, i) => {
    const h = (v / top) * (canvas.height - 2);
    ctx.fillRect(i * step, canvas.height - h, Math.max(step - 1, 1), h);
  });
  canvas.dataset.points = String(series.length);
}

function stage(s) {
  return `${num(s.last, 1)} / ${num(s.p50, 1)} / ${num(s.p95, 1)}`;
}

function sourceBox(source, streams) {
  const id = `source-${source}`;
  let box = document.getElementById(id);
  if (box) return box;
  box = document.createElement("div");
  box.className = "source";
  box.id = id;
  box.dataset.source = source;
  const title = document.createElement("h3");
  title.textContent = `source ${source}`;
  const frame = document.createElement("div");
  frame.className = "frame";
  const index = Number(source);
  if (Number.isInteger(index) && index >= 0 && index < streams.length) {
    const img = document.createElement("img");
    img.src = `/video/${encodeURIComponent(streams[index])}`;
    img.alt = "";
    img.addEventListener("load", () => {
      if (img.naturalWidth) frames.set(source, { w: img.naturalWidth, h: img.naturalHeight, video: true });
    });
    frame.append(img);
  }
  const canvas = document.createElement("canvas");
  canvas.width = CANVAS_WIDTH;
  canvas.height = Math.round((CANVAS_WIDTH * 9) / 16);
  frame.append(canvas);
  const list = document.createElement("ul");
  list.className = "nobox";
  box.append(title, frame, list);
  document.getElementById("sources").append(box);
  return box;
}

function drawSource(source, latest, streams) {
  const box = sourceBox(source, streams);
  const canvas = box.querySelector("canvas");
  const list = box.querySelector("ul.nobox");
  const known = frames.get(source) || { w: 1, h: 1, video: false };
  if (!known.video) {
    for (const d of latest.detections) {
      if (!d.bbox) continue;
      known.w = Math.max(known.w, d.bbox.x + d.bbox.width / 2);
      known.h = Math.max(known.h, d.bbox.y + d.bbox.height / 2);
    }
    frames.set(source, known);
  }
  const scale = canvas.width / known.w;
  canvas.height = Math.max(1, Math.round(known.h * scale));
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.lineWidth = 2;
  ctx.font = "12px sans-serif";
  const drawn = [];
  const unboxed = [];
  for (const d of latest.detections) {
    const label = `${d.class} ${num(d.confidence, 2)}`;
    if (!d.bbox) {
      unboxed.push(label);
      continue;
    }
    const x0 = (d.bbox.x - d.bbox.width / 2) * scale;
    const y0 = (d.bbox.y - d.bbox.height / 2) * scale;
    const w = d.bbox.width * scale;
    const h = d.bbox.height * scale;
    ctx.strokeStyle = "#ff0";
    ctx.strokeRect(x0, y0, w, h);
    ctx.fillStyle = "#ff0";
    ctx.fillText(label, x0 + 2, Math.max(y0 - 3, 10));
    drawn.push({ label, x0: Math.round(x0), y0: Math.round(y0), x1: Math.round(x0 + w), y1: Math.round(y0 + h) });
  }
  canvas.dataset.frame = `${known.w}x${known.h}`;
  canvas.dataset.frameId = String(latest.frame_id);
  canvas.dataset.drawn = JSON.stringify(drawn);
  list.replaceChildren(
    ...unboxed.map((label) => {
      const li = document.createElement("li");
      li.textContent = `${label} (no box)`;
      return li;
    })
  );
}

function update(doc) {
  const link = document.getElementById("link");
  link.textContent = doc.connected ? "broker connected" : "broker: reconnecting ...";
  link.className = doc.connected ? "ok" : "bad";
  const st = doc.status;
  text("status", st.status || (st.fields ? "(structured)" : "no status"));
  text("age", st.age_s === null ? "" : `(${num(st.age_s, 0)} s ago)`);
  text("window", `window ${doc.window_s} s${doc.source ? `, source ${doc.source}` : ""}`);
  text("fps", `${num(doc.fps.observed, 1)} frames/s (pipeline ${num(doc.fps.pipeline, 1)})`);
  plot(doc.fps.series);
  fillTable(
    "latency",
    Object.entries(doc.latency).map(([src, s]) => [src, stage(s.decode), stage(s.inference), stage(s.e2e)])
  );
  fillTable(
    "classes",
    doc.classes.slice(0, 10).map((c) => [c.class, num(c.per_s, 1), String(c.count), num(c.mean_confidence, 2)])
  );
  const b = doc.broker;
  text(
    "broker",
    `${b.clients_connected ?? "-"} clients, msg/s in ${num(b.messages_received_per_s, 1)} out ` +
      `${num(b.messages_sent_per_s, 1)}, dropped/s ${num(b.publish_dropped_per_s, 1)}`
  );
  const t = doc.totals;
  text(
    "counts",
    `messages ${t.messages}, frames ${t.detections_messages}, malformed ${t.malformed}, ` +
      `invalid ${t.invalid}, without a box ${t.without_bbox}`
  );
  for (const [source, latest] of Object.entries(doc.latest)) drawSource(source, latest, doc.streams);
  document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
}

const events = new EventSource("/events");
events.addEventListener("figures", (e) => {
  try {
    update(JSON.parse(e.data));
  } catch (err) {
    note(err);
  }
});
events.addEventListener("open", () => { document.body.dataset.stream = "open"; });
