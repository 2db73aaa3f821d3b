/* Walkabouts: the planner (/walkabouts) and the walk page behind a share link (/walkabouts/<token>).
 *
 * Walkabouts.planner(map, cfg): choose a community or draw a polygon (leaflet-draw), filters, start
 * point (office, a tapped point, or the device's location) and a limit; POST /api/walkabouts; draw the
 * numbered route and list its legs. Walkabouts.walk(map, cfg): the route of a planned walk and, for
 * staff, a button per outcome at each stop (POST .../stops/<seq>/visit).
 * Text from the server (titles, notes) is only ever set as textContent, never as HTML.
 */
(function (root) {
    "use strict";

    function csrfToken() {
        var meta = document.querySelector('meta[name="csrf-token"]');
        return meta ? meta.getAttribute("content") : "";
    }

    function postJson(url, body) {
        return fetch(url, {
            method: "POST",
            credentials: "same-origin",
            headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken()},
            body: JSON.stringify(body)
        }).then(function (resp) {
            return resp.json().catch(function () { return {}; }).then(function (data) {
                return {ok: resp.ok, status: resp.status, data: data};
            });
        });
    }

    function projection(crs) { return root.ChinaCRS.projection(crs); }

    function numberIcon(text, cls) {
        var span = document.createElement("span");
        span.textContent = text;
        return L.divIcon({className: "wk-num " + (cls || ""), html: span.outerHTML, iconSize: [26, 26],
                          iconAnchor: [13, 13]});
    }

    function fmtMetres(m) { return String(Math.round(m)); }
    function fmtMinutes(min) { return (Math.round(min * 10) / 10).toFixed(1); }

    // The route, its start and numbered stops on the map; returns the layer group.
    function drawRoute(map, proj, w, labels, previous) {
        if (previous) { map.removeLayer(previous); }
        var group = L.featureGroup();
        var line = w.route.coordinates.map(function (c) { return proj.toDisplay(c[1], c[0]); });
        L.polyline(line, {color: "#8e2c22", weight: 4, opacity: 0.8, className: "wk-route"}).addTo(group);
        L.marker(proj.toDisplay(w.start.lat, w.start.lon), {icon: numberIcon("S", "wk-start"),
                 title: labels.start}).addTo(group);
        w.stops.forEach(function (s) {
            var marker = L.marker(proj.toDisplay(s.lat, s.lon), {icon: numberIcon(String(s.seq), s.outcome ? "done" : ""),
                                                                 title: s.seq + ". " + s.title});
            var tip = document.createElement("span");
            tip.textContent = s.seq + ". " + s.title;
            marker.bindTooltip(tip);
            marker.on("click", function () {
                var item = document.getElementById("stop-" + s.seq);
                if (item) { item.scrollIntoView({behavior: "smooth", block: "center"}); }
            });
            marker.addTo(group);
        });
        group.addTo(map);
        map.fitBounds(group.getBounds(), {padding: [24, 24], maxZoom: 18});
        return group;
    }

    // ---------------------------------------------------------------- the planner

    function planner(map, cfg) {
        var labels = cfg.labels;
        var proj = projection(cfg.crs);
        var form = document.getElementById("wk-form");
        var message = document.getElementById("wk-message");
        var state = {polygon: null, polygonLayer: null, start: null, startMarker: null, route: null, result: null};

        function say(text, bad) {
            message.textContent = text || "";
            message.className = "wk-message" + (bad ? " bad" : "");
        }
        function checked(name) {
            var el = form.querySelector('input[name="' + name + '"]:checked');
            return el ? el.value : null;
        }

        // Drawing: leaflet-draw's polygon handler, started from our own button (no toolbar needed).
        var drawer = null;
        function startDrawing() {
            if (drawer) { drawer.disable(); }
            drawer = new L.Draw.Polygon(map, {allowIntersection: false, showArea: false,
                                              shapeOptions: {color: "#1f6fb2", weight: 2, fillOpacity: 0.1}});
            drawer.enable();
            form.querySelector('input[name="where"][value="polygon"]').checked = true;
            say(labels.drawHint);
        }
        function setPolygon(layer) {
            if (state.polygonLayer) { map.removeLayer(state.polygonLayer); }
            state.polygonLayer = layer.addTo(map);
            var ring = layer.getLatLngs()[0].map(function (ll) {
                var p = proj.toStored(ll);
                return [p.lon, p.lat];
            });
            ring.push(ring[0]);
            state.polygon = {type: "Polygon", coordinates: [ring]};
            form.querySelector('input[name="where"][value="polygon"]').checked = true;
            say(labels.polygonDrawn);
        }
        map.on(L.Draw.Event.CREATED, function (e) { setPolygon(e.layer); });
        document.getElementById("wk-draw").addEventListener("click", startDrawing);
        document.getElementById("wk-area").addEventListener("change", function () {
            form.querySelector('input[name="where"][value="area"]').checked = true;
        });

        // Start point: a tap on the map while "tap" is chosen, or the device's position.
        function setStart(lat, lon) {
            state.start = {lat: lat, lon: lon};
            if (state.startMarker) { map.removeLayer(state.startMarker); }
            state.startMarker = L.marker(proj.toDisplay(lat, lon), {icon: numberIcon("S", "wk-start")}).addTo(map);
        }
        map.on("click", function (e) {
            if (checked("start") !== "point" || (drawer && drawer.enabled())) { return; }
            var p = proj.toStored(e.latlng);
            setStart(p.lat, p.lon);
            say(labels.startSet);
        });
        Array.prototype.forEach.call(form.querySelectorAll('input[name="start"]'), function (input) {
            input.addEventListener("change", function () {
                state.start = null;
                if (state.startMarker) { map.removeLayer(state.startMarker); state.startMarker = null; }
                if (input.value === "point" && input.checked) { say(labels.tapStart); }
                if (input.value === "location" && input.checked) {
                    if (!navigator.geolocation) { say(labels.locateFailed, true); return; }
                    say(labels.locating);
                    navigator.geolocation.getCurrentPosition(function (pos) {
                        setStart(pos.coords.latitude, pos.coords.longitude);
                        say(labels.located);
                    }, function () { say(labels.locateFailed, true); }, {enableHighAccuracy: true, timeout: 15000});
                }
            });
        });

        function request() {
            var body = {filters: {}};
            if (checked("where") === "polygon") {
                if (!state.polygon) { return null; }
                body.polygon = state.polygon;
            } else {
                var area = document.getElementById("wk-area").value;
                if (!area) { return null; }
                body.area = parseInt(area, 10);
            }
            body.filters.status = Array.prototype.map.call(
                form.querySelectorAll('input[name="status"]:checked'), function (el) { return el.value; });
            var category = document.getElementById("wk-category").value;
            if (category) { body.filters.category = [category]; }
            var age = parseInt(document.getElementById("wk-age").value, 10);
            if (age > 0) { body.filters.min_age_days = age; }
            body.filters.overdue_first = form.querySelector('input[name="overdue_first"]').checked;
            var start = checked("start");
            if (start === "office") {
                body.start = {kind: "office"};
            } else if (state.start) {
                body.start = {kind: start, lat: state.start.lat, lon: state.start.lon};
            } else {
                body.start = {kind: start};
            }
            body.return_to_start = form.querySelector('input[name="return_to_start"]').checked;
            var limit = checked("limit");
            var value = parseFloat(document.getElementById("wk-limit").value);
            if (limit === "stops") { body.max_stops = Math.round(value); }
            if (limit === "minutes") { body.max_minutes = value; }
            return body;
        }

        function errorText(status, err) {
            var code = err && err.code;
            var known = {no_open_issues: labels.noOpenIssues, no_stop_fits: labels.noStopFits,
                         invalid_polygon: labels.polygonInvalid, polygon_too_large: labels.polygonTooLarge};
            if (known[code]) { return known[code]; }
            if (status === 403) { return labels.forbidden; }
            return (err && err.message) || labels.failed;
        }

        function showResult(w) {
            state.result = w;
            state.route = drawRoute(map, proj, w, labels, state.route);
            var list = document.getElementById("wk-stops");
            list.textContent = "";
            w.stops.forEach(function (s) {
                var li = document.createElement("li");
                li.className = "walk-stop";
                li.id = "stop-" + s.seq;
                var num = document.createElement("span");
                num.className = "seq";
                num.textContent = s.seq;
                var body = document.createElement("div");
                body.className = "stop-body";
                var title = document.createElement("strong");
                title.textContent = s.title;
                var leg = document.createElement("p");
                leg.className = "leg";
                leg.textContent = fmtMetres(s.leg_distance_m) + " " + labels.m + " · " + fmtMinutes(s.leg_walk_minutes) +
                    " " + labels.min;
                body.appendChild(title);
                body.appendChild(leg);
                li.appendChild(num);
                li.appendChild(body);
                list.appendChild(li);
            });
            if (w.return_leg) {
                var back = document.createElement("li");
                back.className = "walk-back";
                back.textContent = labels.backToStart + ": " + fmtMetres(w.return_leg.distance_m) + " " + labels.m +
                    " · " + fmtMinutes(w.return_leg.walk_minutes) + " " + labels.min;
                list.appendChild(back);
            }
            document.getElementById("wk-totals").textContent = labels.total + ": " +
                (w.distance_m / 1000).toFixed(2) + " km · " + fmtMinutes(w.walk_minutes) + " " + labels.min;
            document.getElementById("wk-open").href = w.page_url;
            document.getElementById("wk-gpx").href = w.gpx_url;
            document.getElementById("wk-print").href = w.page_url + "?print=1";
            document.getElementById("wk-share").value = w.share_url;
            document.getElementById("wk-result").hidden = false;
            say(labels.planned.replace("%(stops)s", w.stops.length));
        }

        form.addEventListener("submit", function (e) {
            e.preventDefault();
            var body = request();
            if (!body) { say(labels.chooseArea, true); return; }
            say(labels.planning);
            var button = document.getElementById("wk-plan");
            button.disabled = true;
            postJson(cfg.api, body).then(function (r) {
                button.disabled = false;
                if (r.ok) { showResult(r.data); return; }
                say(errorText(r.status, r.data && r.data.error), true);
            }).catch(function () {
                button.disabled = false;
                say(labels.failed, true);
            });
        });

        return {
            map: map,
            state: state,
            result: function () { return state.result; },
            // For scripted use (and tests): a polygon from [lat, lon] corners, as if drawn.
            setPolygon: function (corners) {
                setPolygon(L.polygon(corners.map(function (c) { return proj.toDisplay(c[0], c[1]); })));
            }
        };
    }

    // ---------------------------------------------------------------- the walk

    function walk(map, cfg) {
        var labels = cfg.labels;
        var proj = projection(cfg.crs);
        var w = cfg.walkabout;
        var layer = drawRoute(map, proj, w, labels, null);
        if (w.polygon) {
            L.polygon(w.polygon.coordinates[0].map(function (c) { return proj.toDisplay(c[1], c[0]); }),
                      {color: "#1f6fb2", weight: 1.5, fillOpacity: 0.05, interactive: false}).addTo(map);
        }
        var printButton = document.getElementById("walk-print");
        if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }

        function mark(item, outcome) {
            var seq = item.getAttribute("data-seq");
            var note = item.querySelector("textarea.note");
            var result = item.querySelector(".outcome");
            var buttons = item.querySelectorAll("button.mark");
            var body = {outcome: outcome, version: parseInt(item.getAttribute("data-version"), 10)};
            if (note && note.value.trim()) { body.note = note.value.trim(); }
            Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
            result.textContent = labels.saving;
            result.className = "outcome";
            postJson(cfg.visitApi.replace("{seq}", seq), body).then(function (r) {
                Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
                if (!r.ok) {
                    var err = r.data && r.data.error;
                    var text = r.status === 409 ? labels.conflict : r.status === 422 ? labels.notAllowed : labels.failed;
                    // The server's reason (English) stays at hand as a tooltip; the page speaks its own language.
                    result.textContent = text;
                    result.title = (err && err.message) || "";
                    result.className = "outcome bad";
                    return;
                }
                var stop = r.data;
                item.setAttribute("data-version", stop.version);
                item.classList.add("done");
                result.textContent = labels.outcomes[stop.outcome] + (stop.note ? ": " + stop.note : "");
                var status = item.querySelector(".status");
                if (status) {
                    status.textContent = labels.statuses[stop.status] || stop.status;
                    status.setAttribute("data-status", stop.status);
                }
                if (note) { note.value = ""; }
                layer.eachLayer(function (l) {
                    if (l.options && l.options.title && l.options.title.indexOf(seq + ". ") === 0 && l.setIcon) {
                        l.setIcon(numberIcon(seq, "done"));
                    }
                });
            }).catch(function () {
                Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
                result.textContent = labels.failed;
                result.className = "outcome bad";
            });
        }

        if (cfg.canVisit) {
            Array.prototype.forEach.call(document.querySelectorAll(".walk-stop"), function (item) {
                Array.prototype.forEach.call(item.querySelectorAll("button.mark"), function (button) {
                    button.addEventListener("click", function () { mark(item, button.getAttribute("data-outcome")); });
                });
            });
        }
        return {map: map, layer: layer, walkabout: w};
    }

    root.Walkabouts = {planner: planner, walk: walk};
})(window);
