/* Grid Map: the map's style functions, read by dash-leaflet through {"variable": "gridmap.<name>"}.
 * Colours are computed in Python (layers.colors) and travel in each feature's properties; these functions only
 * pick them according to the layer's `hideout`, so switching theme or selecting a building restyles without
 * sending geometry again. Keep this file small: all logic that can be tested in Python lives there. */
window.gridmap = Object.assign({}, window.gridmap, {
    styleBuilding: function (feature, context) {
        var h = (context && context.hideout) || {};
        var p = feature.properties || {};
        var fill = (p.colors && p.colors[h.theme || "status"]) || "#9aa5b1";
        var selected = h.selected !== null && h.selected !== undefined && h.selected === p.id;
        return {
            fillColor: fill, fillOpacity: 0.92, color: selected ? "#111827" : "#ffffff",
            weight: selected ? 3 : 1.2, opacity: 1,
            className: "gm-building gm-building-" + p.id + (selected ? " gm-selected" : "")
        };
    },
    styleGrid: function (feature, context) {
        var h = (context && context.hideout) || {};
        var p = feature.properties || {};
        var show = h.show !== false;
        return {
            fillColor: p.color || "#f1f3f5", fillOpacity: show ? 0.55 : 0, color: "#2f4b7c",
            weight: show ? 2 : 0, opacity: show ? 0.9 : 0, dashArray: "6 4", className: "gm-grid gm-grid-" + p.id
        };
    },
    styleOutline: function () {
        return {fill: true, fillColor: "#fbfaf6", fillOpacity: 1, color: "#8d99ae", weight: 2, className: "gm-outline"};
    },
    stylePath: function () {
        return {color: "#ffffff", weight: 6, opacity: 1, lineCap: "round", className: "gm-path"};
    },
    /* Building numbers as permanent labels, shown from hideout.labelZoom on (CSS hides them below). */
    labelBuilding: function (feature, layer, context) {
        var p = feature.properties || {};
        layer.bindTooltip(String(p.number), {
            permanent: true, direction: "center", className: "gm-building-label", opacity: 1, interactive: false
        });
        var minZoom = (context && context.hideout && context.hideout.labelZoom) || 17;
        layer.on("add", function () {
            var map = layer._map;
            if (!map || map._gridmapLabels) { return; }
            map._gridmapLabels = true;
            var update = function () {
                map.getContainer().classList.toggle("gm-zoom-close", map.getZoom() >= minZoom);
            };
            map.on("zoomend", update);
            update();
        });
    },
    labelGrid: function (feature, layer) {
        var p = feature.properties || {};
        var text = p.name + (p.percent === null || p.percent === undefined ? "" : " " + p.percent + "%");
        layer.bindTooltip(text, {permanent: true, direction: "center", className: "gm-grid-label", opacity: 1,
                                 interactive: false});
    }
});
