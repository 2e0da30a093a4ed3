{#-
    A naive UTC timestamp as a local date (or local timestamp) in an IANA time zone, with DuckDB's built-in ICU.

    timezone('UTC', ts) reads the naive value as a UTC instant (TIMESTAMPTZ); timezone(tz, instant) gives the
    naive wall-clock time in tz, daylight saving included. Neither depends on the session's TimeZone setting.
    Example: 2026-03-28 23:30:00 UTC is 2026-03-29 00:30 in Europe/Berlin (CET, +1), so its date is 2026-03-29.
-#}

{% macro to_local_timestamp(utc_timestamp, time_zone) -%}
    timezone(coalesce({{ time_zone }}, 'UTC'), timezone('UTC', {{ utc_timestamp }}))
{%- endmacro %}

{% macro to_local_date(utc_timestamp, time_zone) -%}
    cast({{ to_local_timestamp(utc_timestamp, time_zone) }} as date)
{%- endmacro %}

{#- An ISO 8601 text with an offset ('2021-12-31T19:00:00-05:00', or 'Z') as a naive UTC timestamp. -#}
{% macro iso_to_naive_utc(iso_text) -%}
    timezone('UTC', try_cast({{ iso_text }} as timestamptz))
{%- endmacro %}
