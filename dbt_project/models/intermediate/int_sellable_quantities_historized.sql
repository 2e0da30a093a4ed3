{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['inventory_item_id', 'fact_seq'],
        on_schema_change='fail',
        post_hook="{{ sellable_history_remaining_slices() }}"
    )
}}
-- The sellable history of every inventory item, append-only: one row per change of its sellable quantity or
-- stock state, at `valid_from` on the product's timeline, learned at `known_at`. A run processes only the
-- facts learned since the previous one, from each item's running state (the `is_latest` row carries every
-- level's newest state), so its cost follows the delta.
--
-- The timeline is what the product knew, in the order it learned it: a fact takes effect at Shopify's
-- updated_at, but never before anything already learned about the item (a late webhook, a poll finding a
-- change a lost webhook should have told, is placed after what was known). What was learned is therefore
-- never rewritten: the history known at any instant K is exactly the rows with known_at <= K.
-- A stale fact (older than the level's newest known state) and a duplicate (a poll re-reading what a webhook
-- said) change nothing and are dropped.
--
-- Sellable quantity = sum of max(available, 0) over the item's connected levels at locations that count
-- then: active, and fulfilling online orders unless a counted_locations rule names the locations. Stock
-- state: in_stock while sellable >= threshold (the rule then), out_of_stock below it, not_restockable while
-- the variant is untracked, sells on at zero (CONTINUE), is not known, or its product is not active.
--
-- The SQL is the macro sellable_history (macros/sellable_history.sql): a full refresh builds the history one
-- slice of items at a time (the items are independent), so each slice's sorts fit in memory; the model is
-- the first slice, its post-hook appends the others. A cycle is one slice.
{{ sellable_history(0) }}
