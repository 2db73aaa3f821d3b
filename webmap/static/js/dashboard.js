/* The officials' dashboard (webmap/templates/dashboard.html): one set of filters, kept in the URL, feeds the
 * heatmap, the hot spots, the community choropleth, the statistics panels and the export links.
 * Everything shown that came from the server goes through esc() or textContent. */
var Dashboard = (function () {
    "use strict";

    var FILTER_KEYS = ["area", "category", "status", "since", "until", "resolution"];
    var API_KEYS = ["area", "category", "status", "since", "until"];

    function esc(value) {
        return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
        });
    }

    function fill(template, values) {
        return String(template).replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
    }

    function init(map, config) {
        var T = config.labels;
        var root = document.getElementById("dashboard");
        var form = document.getElementById("dash-filters");
        var message = document.getElementById("dash-message");
        var numberFormat = new Intl.NumberFormat(config.locale, {maximumFractionDigits: 1});
        var percentFormat = new Intl.NumberFormat(config.locale, {style: "percent", maximumFractionDigits: 1});
        var charts = {};
        var generation = 0;
        var fitted = false;
        var problems = [];

        // ------------------------------------------------------------ layers
        var heat = L.heatLayer([], {radius: 20, blur: 16, maxZoom: 18, minOpacity: 0.3});
        // Canvas, not SVG: a whole district at a fine resolution is tens of thousands of hexagons.
        var hot = L.geoJSON(null, {
            renderer: L.canvas({padding: 0.3}),
            style: function (f) {
                return {color: "#555", weight: 0.4, fillColor: f.properties.color, fillOpacity: 0.7};
            },
            onEachFeature: function (f, layer) {
                var p = f.properties;
                layer.bindPopup(
                    "<strong>" + esc(legendText(p["class"])) + "</strong><br>" +
                    esc(T.issues) + ": " + esc(p.count) + "<br>" +
                    esc(T.z) + ": " + esc(p.z.toFixed(2)) + "<br>" +
                    esc(T.p) + ": " + esc(p.p < 0.0001 ? "< 0.0001" : p.p.toFixed(4)));
            }
        });
        var choro = L.geoJSON(null, {
            style: function (f) {
                return {color: "#444", weight: 1, fillColor: f.properties.color, fillOpacity: 0.6};
            },
            onEachFeature: function (f, layer) {
                var p = f.properties;
                layer.bindTooltip(esc(config.language === "en" && p.name_en ? p.name_en : p.name) + "<br>" +
                    esc(numberFormat.format(p.value)) + " · " + esc(T.issues) + ": " + esc(p.issues), {sticky: true});
            }
        });
        var overlays = {};
        overlays[T.heatmap] = heat;
        overlays[T.hotspots] = hot;
        overlays[T.choropleth] = choro;
        L.control.layers(null, overlays, {collapsed: false, position: "topright"}).addTo(map);
        heat.addTo(map);
        hot.addTo(map);
        var hotLegend = {};

        function legendText(cls) { return hotLegend[cls] || cls; }

        // ------------------------------------------------------------ filters <-> URL
        function fromUrl() {
            var params = new URLSearchParams(window.location.search);
            FILTER_KEYS.forEach(function (k) {
                var field = form.elements[k];
                if (!field) { return; }
                var value = params.get(k) || "";
                if (k === "resolution" && !value) { value = String(config.defaultResolution); }
                if (field.tagName === "SELECT" && value &&
                    !Array.prototype.some.call(field.options, function (o) { return o.value === value; })) {
                    // A bookmarked value the list does not offer (e.g. two categories): keep it, unlabelled.
                    var opt = document.createElement("option");
                    opt.value = value;
                    opt.textContent = value;
                    field.appendChild(opt);
                }
                field.value = value;
            });
        }

        function filterParams(keys) {
            var params = new URLSearchParams();
            (keys || FILTER_KEYS).forEach(function (k) {
                var field = form.elements[k];
                if (field && field.value) { params.set(k, field.value); }
            });
            return params;
        }

        function pageQuery() {
            var params = filterParams(FILTER_KEYS);
            if (params.get("resolution") === String(config.defaultResolution)) { params.delete("resolution"); }
            var lang = new URLSearchParams(window.location.search).get("lang");
            if (lang) { params.set("lang", lang); }
            return params.toString();
        }

        function addDays(iso, n) {
            var d = new Date(iso + "T00:00:00Z");
            d.setUTCDate(d.getUTCDate() + n);
            return d.toISOString().slice(0, 10);
        }

        // The period as /api/stats reads it (local dates, both included; the last 30 days when empty), as
        // local midnights for the other layers: [since 00:00, the day after until 00:00).
        function period() {
            var p = config.period;
            var until = form.elements.until.value || p.today;
            var since = form.elements.since.value || addDays(until, 1 - p.defaultDays);
            return {since: since + "T00:00:00" + p.offset, until: addDays(until, 1) + "T00:00:00" + p.offset};
        }

        function apiUrl(base, extra, datesAsTyped) {
            var params = filterParams(API_KEYS);
            if (!datesAsTyped) {
                var p = period();
                params.set("since", p.since);
                params.set("until", p.until);
            }
            Object.keys(extra || {}).forEach(function (k) { params.set(k, extra[k]); });
            // Legends and messages come back in the page's language.
            var lang = new URLSearchParams(window.location.search).get("lang");
            if (lang) { params.set("lang", lang); }
            var qs = params.toString();
            return base + (qs ? "?" + qs : "");
        }

        function changed() {
            var qs = pageQuery();
            var target = window.location.pathname + (qs ? "?" + qs : "");
            if (target !== window.location.pathname + window.location.search) {
                window.history.pushState(null, "", target);
            }
            loadAll();
        }

        form.addEventListener("change", changed);
        form.addEventListener("submit", function (e) { e.preventDefault(); changed(); });
        window.addEventListener("popstate", function () { fromUrl(); loadAll(); });

        // ------------------------------------------------------------ loading
        function getJson(url, what) {
            return fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
                .then(function (resp) {
                    return resp.json().catch(function () { return {}; }).then(function (body) {
                        if (!resp.ok) {
                            var err = new Error((body.error && body.error.message) || ("HTTP " + resp.status));
                            err.status = resp.status;
                            err.what = what;
                            throw err;
                        }
                        return body;
                    });
                });
        }

        function report(err) {
            problems.push(fill(T.failed, {what: err.what || ""}) + " " + err.message);
            message.textContent = problems.join(" · ");
            message.classList.add("bad");
        }

        function loadAll() {
            generation += 1;
            var mine = generation;
            problems = [];
            message.textContent = T.loading;
            message.classList.remove("bad");
            root.setAttribute("data-state", "loading");
            updateExports();
            var jobs = [loadHotspots(mine), loadHeat(mine), loadChoropleth(mine), loadStats(mine)];
            Promise.all(jobs.map(function (p) { return p.catch(function (err) { report(err); }); }))
                .then(function () {
                    if (mine !== generation) { return; }
                    if (!problems.length) { message.textContent = ""; }
                    root.setAttribute("data-state", "ready");
                    root.setAttribute("data-generation", String(mine));
                });
        }

        function loadHotspots(mine) {
            var res = form.elements.resolution.value || String(config.defaultResolution);
            return getJson(apiUrl(config.api.hotspots, {resolution: res}), T.hotspots).then(function (data) {
                if (mine !== generation) { return; }
                hot.clearLayers();
                hot.addData(data);
                drawHotLegend(data);
                if (!data.features.length) { message.textContent = T.noData; }
            });
        }

        function heatView() {
            var b = map.getBounds();
            function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
            return {
                zoom: String(map.getZoom()),
                bbox: [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180),
                       clamp(b.getNorth(), -90, 90)].map(function (v) { return v.toFixed(5); }).join(",")
            };
        }

        function loadHeat(mine) {
            return getJson(apiUrl(config.api.heatmap, heatView()), T.heatmap).then(function (data) {
                if (mine !== undefined && mine !== generation) { return; }
                heat.setOptions({max: Math.max(1, data.max * 0.7)});
                heat.setLatLngs(data.points);
            });
        }

        var heatTimer = null;
        map.on("moveend", function () {
            window.clearTimeout(heatTimer);
            heatTimer = window.setTimeout(function () { loadHeat().catch(report); }, 250);
        });

        function loadChoropleth(mine) {
            return getJson(apiUrl(config.api.choropleth), T.choropleth).then(function (data) {
                if (mine !== generation) { return; }
                choro.clearLayers();
                choro.addData(data);
                drawChoroLegend(data);
                if (!fitted && choro.getLayers().length) {
                    fitted = true;
                    map.fitBounds(choro.getBounds(), {padding: [8, 8]});
                }
            });
        }

        function drawHotLegend(data) {
            var box = document.getElementById("legend-hotspots");
            var counts = (data.summary && data.summary.classes) || {};
            var html = "<h4>" + esc(T.hotspotLegend) + "</h4><ul>";
            data.legend.forEach(function (e) {
                hotLegend[e["class"]] = e.text;
                html += "<li title=\"" + esc(e.explanation) + "\"><span class=\"swatch\" style=\"background:" +
                    esc(e.color) + "\"></span><span class=\"legend-text\">" + esc(e.text) +
                    " <span class=\"muted\">(" + esc(counts[e["class"]] || 0) + ")</span></span>" +
                    "<small class=\"legend-explanation\">" + esc(e.explanation) + "</small></li>";
            });
            html += "</ul>";
            if (data.summary && data.summary.few_data) { html += "<p class=\"hint\">" + esc(T.fewData) + "</p>"; }
            box.innerHTML = html;
        }

        function drawChoroLegend(data) {
            var box = document.getElementById("legend-choropleth");
            var title = data.measure === "per_1000_residents" ? T.choroplethPer1000 : T.choroplethPerKm2;
            var html = "<h4>" + esc(title) + " <span class=\"muted\">(" +
                esc(data.counted === "open" ? T.openOnly : T.filtered) + ", " + esc(data.scheme) + ")</span></h4><ul>";
            data.legend.forEach(function (e) {
                html += "<li><span class=\"swatch\" style=\"background:" + esc(e.color) + "\"></span><span>" +
                    esc(numberFormat.format(e.lower)) + " – " + esc(numberFormat.format(e.upper)) +
                    " <span class=\"muted\">(" + esc(e.count) + ")</span></span></li>";
            });
            box.innerHTML = html + "</ul>";
        }

        // ------------------------------------------------------------ statistics
        function rate(v) { return v === null || v === undefined ? T.none : percentFormat.format(v); }
        function hours(v) {
            if (v === null || v === undefined) { return T.none; }
            return v >= 72 ? fill(T.days, {n: numberFormat.format(v / 24)}) : fill(T.hours, {n: numberFormat.format(v)});
        }
        function num(v) { return v === null || v === undefined ? T.none : numberFormat.format(v); }

        function drawCards(t) {
            var cards = [
                [T.responseRate, rate(t.response_rate)], [T.resolutionRate, rate(t.resolution_rate)],
                [T.satisfactionRate, rate(t.satisfaction_rate)], [T.opened, num(t.opened)],
                [T.resolved, num(t.resolved)], [T.backlog, num(t.backlog)], [T.backlogAtEnd, num(t.backlog_at_end)],
                [T.withinSla, rate(t.resolved_within_sla)], [T.median, hours(t.median_hours_to_resolve)],
                [T.p90, hours(t.p90_hours_to_resolve)]
            ];
            document.getElementById("dash-cards").innerHTML = cards.map(function (c) {
                return "<div class=\"dash-card\"><div class=\"dash-card-value\">" + esc(c[1]) +
                    "</div><div class=\"dash-card-label\">" + esc(c[0]) + "</div></div>";
            }).join("");
        }

        function table(id, caption, column, rows, nameOf, extraHead, extraCell) {
            var head = "<tr><th>" + esc(column) + "</th>" + (extraHead ? "<th>" + esc(extraHead) + "</th>" : "") +
                "<th>" + esc(T.opened) + "</th><th>" + esc(T.resolved) + "</th><th>" + esc(T.backlog) +
                "</th><th>" + esc(T.responseRate) + "</th><th>" + esc(T.resolutionRate) + "</th><th>" +
                esc(T.satisfactionRate) + "</th><th>" + esc(T.withinSla) + "</th><th>" + esc(T.median) + "</th></tr>";
            var body = rows.map(function (r) {
                return "<tr><td>" + esc(nameOf(r)) + "</td>" + (extraCell ? "<td>" + esc(extraCell(r)) + "</td>" : "") +
                    "<td>" + esc(num(r.opened)) + "</td><td>" + esc(num(r.resolved)) + "</td><td>" + esc(num(r.backlog)) +
                    "</td><td>" + esc(rate(r.response_rate)) + "</td><td>" + esc(rate(r.resolution_rate)) + "</td><td>" +
                    esc(rate(r.satisfaction_rate)) + "</td><td>" + esc(rate(r.resolved_within_sla)) + "</td><td>" +
                    esc(hours(r.median_hours_to_resolve)) + "</td></tr>";
            }).join("");
            document.getElementById(id).innerHTML = "<table><caption>" + esc(caption) + "</caption><thead>" + head +
                "</thead><tbody>" + body + "</tbody></table>";
        }

        function localName(r) { return config.language === "en" && r.name_en ? r.name_en : (r.name || r.code || ""); }

        function chart(key, canvasId, spec) {
            if (charts[key]) { charts[key].destroy(); }
            charts[key] = new Chart(document.getElementById(canvasId), spec);
        }

        function drawStats(s) {
            drawCards(s.totals || {});
            table("table-areas", T.perCommunity, T.community, s.by_area || [], localName);
            table("table-categories", T.perCategory, T.category, s.by_category || [], function (r) {
                return config.categoryNames[r.category] || localName(r);
            });
            table("table-parties", T.perParty, T.party, s.by_party || [], function (r) {
                return r.name || T.unassigned;
            }, T.kind,
                  function (r) { return T[r.kind] || r.kind; });
            var weekly = s.weekly || [];
            chart("weekly", "chart-weekly", {
                type: "line",
                data: {
                    labels: weekly.map(function (w) { return w.week; }),
                    datasets: [
                        {label: T.opened, data: weekly.map(function (w) { return w.opened; }), borderColor: "#d7301f",
                         backgroundColor: "#d7301f", tension: 0.2},
                        {label: T.resolved, data: weekly.map(function (w) { return w.resolved; }), borderColor: "#2c7fb8",
                         backgroundColor: "#2c7fb8", tension: 0.2}
                    ]
                },
                options: {responsive: true, maintainAspectRatio: false, animation: false,
                          scales: {y: {beginAtZero: true}}}
            });
            var kinds = s.resolved_by_party_kind || {};
            var kindKeys = ["government", "social_work", "volunteer_group", "unassigned"];
            chart("kinds", "chart-kinds", {
                type: "bar",
                data: {
                    labels: kindKeys.map(function (k) { return T[k]; }),
                    datasets: [{label: T.resolved, data: kindKeys.map(function (k) { return kinds[k] || 0; }),
                                backgroundColor: ["#8e2c22", "#f28e2b", "#31a354", "#8c8c8c"]}]
                },
                options: {responsive: true, maintainAspectRatio: false, animation: false, indexAxis: "y",
                          plugins: {legend: {display: false}}, scales: {x: {beginAtZero: true}}}
            });
            var list = document.getElementById("oldest-open");
            list.innerHTML = (s.oldest_open || []).map(function (o) {
                var href = config.issuePage.replace("{id}", encodeURIComponent(o.id));
                return "<li><a href=\"" + esc(href) + "\">#" + esc(o.id) + " " + esc(o.title) + "</a> <span class=\"muted\">" +
                    esc(config.categoryNames[o.category] || o.category) + " · " + esc(o.area_code) + " · " +
                    esc(config.statusNames[o.status] || o.status) + " · " + esc(fill(T.days, {n: num(o.age_days)})) +
                    "</span></li>";
            }).join("");
        }

        function loadStats(mine) {
            return getJson(apiUrl(config.api.stats, {}, true), T.statistics).then(function (data) {
                if (mine !== generation) { return; }
                drawStats(data);
            }).catch(function (err) {
                if (err.status === 404 && !err.message.match(/area|category/)) {
                    document.getElementById("dash-cards").innerHTML = "<p class=\"hint\">" + esc(T.statsMissing) + "</p>";
                    return;
                }
                throw err;
            });
        }

        // ------------------------------------------------------------ exports
        function updateExports() {
            ["csv", "geojson", "gpkg"].forEach(function (fmt) {
                document.getElementById("export-" + fmt).href = apiUrl(config.api.export, {format: fmt});
            });
            document.getElementById("export-hotspots").href = apiUrl(config.api.hotspots, {
                resolution: form.elements.resolution.value || String(config.defaultResolution), download: "1"
            });
        }

        fromUrl();
        loadAll();
        return {map: map, charts: charts, layers: {heatmap: heat, hotspots: hot, choropleth: choro}, reload: loadAll};
    }

    return {init: init};
})();
