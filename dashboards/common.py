"""What every DOME dashboard shares: the datasource, the variable chain, the selector.

The label convention, as Prometheus sees an engine's series:

- ``namespace``: the engine pod's namespace. prometheus-operator adds it to every target
  of a ServiceMonitor; a local Prometheus has none, and ``namespace=~".*"`` still
  matches series without the label.
- ``job``: the exchange and the component. The operator's ServiceMonitor selects the
  engines' headless Service ``<exchange>-engine-headless`` and discovery's Service
  ``<exchange>-discovery``, and prometheus-operator names a target's job after its
  Service. A local scrape of ``dome up`` follows the same pattern (``<name>-engine``,
  ``<name>-discovery``, e.g. ``dome-engine``). The ``exchange`` variable's value is the
  part before ``-engine`` (the exchange's name), so one variable selects both an
  exchange's engines (``SELECTOR``) and its discovery (``DISCOVERY_SELECTOR``); "All"
  is ``.+``, which with the suffix is the engine-job pattern, so ``up`` never matches
  another application's targets.
- ``pod``: the engine. On Kubernetes the pod name is the engine id (the StatefulSet
  identity passed as ``--id``); a local scrape config sets it to the engine id from
  ``cluster.json``.

Variables chain namespace → exchange → engine, each with "All" and each query filtered
by the ones before it, all read from ``dome_engine_info`` (one series per engine).
Discovery serves the whole exchange, so its queries are filtered by namespace and
exchange only. The operator is not part of an exchange; its dashboard has variables of
its own (``dashboards.operator``).
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard, prometheus
from grafana_foundation_sdk.builders import stat as stat_builder
from grafana_foundation_sdk.builders import table as table_builder
from grafana_foundation_sdk.builders import timeseries as timeseries_builder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DataTransformerConfig,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

#: The scrape jobs of engines: ``<exchange>-engine-headless`` on Kubernetes, ``<name>-engine``
#: locally. The EngineDown alert (charts/dome/alerts/) matches jobs with the same pattern.
ENGINE_JOB = ".+-engine(-headless)?"

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")

#: Every engine query carries this selector, so the variables filter every panel.
SELECTOR = 'namespace=~"$namespace", job=~"$exchange-engine(-headless)?", pod=~"$engine"'
#: Every discovery query carries this one: the exchange's discovery (not an engine).
DISCOVERY_SELECTOR = 'namespace=~"$namespace", job=~"$exchange-discovery"'

#: Every FIX gateway query carries this one: the exchange's gateway, whose Service (and
#: so scrape job) is ``<exchange>-fix`` (``dome fix`` beside ``dome up`` is scraped as
#: ``<name>-fix`` too).
FIX_SELECTOR = 'namespace=~"$namespace", job=~"$exchange-fix"'

RATE = "$__rate_interval"

Variable = dashboard.DatasourceVariable | dashboard.QueryVariable


def variables() -> list[Variable]:
    """The ``datasource`` variable, then namespace → exchange → engine."""
    namespace = label_variable("namespace", "Namespace", "dome_engine_info", "namespace")
    namespace.multi(False)
    exchange = label_variable(
        "exchange", "Exchange", 'dome_engine_info{namespace=~"$namespace"}', "job"
    )
    # The exchange's name: the selectors add the component's suffix to it.
    exchange.regex("/^(.+?)-engine(?:-headless)?$/").all_value(".+")
    engine = label_variable(
        "engine",
        "Engine",
        'dome_engine_info{namespace=~"$namespace", job=~"$exchange-engine(-headless)?"}',
        "pod",
    )
    return [datasource_variable(), namespace, exchange, engine]


def datasource_variable() -> dashboard.DatasourceVariable:
    """The Prometheus data source every panel and variable queries."""
    return dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")


def label_variable(name: str, label: str, series: str, key: str) -> dashboard.QueryVariable:
    """A multi-value variable over the values of label ``key`` of ``series``, with All."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({series}, {key})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .include_all(True)
        .all_value(".*")
        .multi(True)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    """A range query over the dashboard's datasource."""
    target = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE).range()
    return target.legend_format(legend or "__auto")


def quantiles(
    metric: str, by: str, legend: str, selector: str = SELECTOR
) -> list[prometheus.Dataquery]:
    """p50 (ref A) and p99 (ref B) of histogram ``metric``, one series per ``by`` label
    (none when ``by`` is empty)."""
    grouped = f"sum by ({by + ', ' if by else ''}le) (rate({metric}_bucket{{{selector}}}[{RATE}]))"
    return [
        query(f"histogram_quantile({q}, {grouped})", f"{legend} p{name}", ref)
        for q, name, ref in ((0.5, "50", "A"), (0.99, "99", "B"))
    ]


def base(
    uid: str,
    title: str,
    description: str,
    variables_of: Callable[[], list[Variable]] | None = None,
) -> dashboard.Dashboard:
    """A dashboard with DOME's uid, tags, time range, refresh and variables (the
    exchange chain unless ``variables_of`` gives others)."""
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["dome"])
        .editable()
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
    )
    return board.variables(list((variables_of or variables)()))


def timeseries(
    title: str, unit: str, description: str, *targets: prometheus.Dataquery
) -> timeseries_builder.Panel:
    """A half-width time series panel; ``unit`` is a Grafana unit id (``s``, ``ops``)."""
    panel = (
        timeseries_builder.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .span(12)
        .height(8)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    return panel.targets(list(targets))


def stat(
    title: str, unit: str, description: str, target: prometheus.Dataquery
) -> stat_builder.Panel:
    """A small single-number panel for the top row."""
    return (
        stat_builder.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(4)
        .height(4)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(target)
    )


def table(title: str, description: str, expr: str, columns: dict[str, str]) -> table_builder.Panel:
    """A half-width table of the series ``expr`` returns now, one row per series.

    ``columns`` maps the labels to show, in order, to their column titles; the time and
    the value are hidden (the query's filter is what selects the rows).
    """
    target = (
        prometheus.Dataquery()
        .expr(expr)
        .ref_id("A")
        .datasource(DATASOURCE)
        .instant()
        .format(PromQueryFormat.TABLE)
    )
    organize = DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": {"Time": True, "Value": True},
            "indexByName": {label: index for index, label in enumerate(columns)},
            "renameByName": columns,
        },
    )
    return (
        table_builder.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(12)
        .height(8)
        .with_target(target)
        .with_transformation(organize)
        .sort_by(
            [common_builder.TableSortByFieldState().display_name(next(iter(columns.values())))]
        )
    )
