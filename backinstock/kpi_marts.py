"""The KPI marts the pipeline publishes: what the console's KPI pages read and what freshness is kept on."""

KPI_MARTS = (
    "kpi_daily",
    "kpi_summary",
    "kpi_channels_daily",
    "kpi_products_daily",
    "kpi_variants_daily",
    "kpi_restock_events",
)
