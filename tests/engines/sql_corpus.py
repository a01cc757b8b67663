"""The differential corpus: analyst queries run as a pipeline step and as bare DuckDB.

Relations: ``input`` and ``orders`` (the primary source, orders.parquet), ``customers``
(customers.csv), ``events`` (events.parquet), ``products`` (a catalog dataset, products.parquet).
Each entry is ``(id, query, ordered)``: ``ordered`` queries are compared row by row (their ORDER BY
is a total order), the others as sorted multisets.
"""

from __future__ import annotations

CORPUS: list[tuple[str, str, bool]] = [
    # --- aggregations
    ("agg_group", "SELECT region, count(*) AS n, sum(amount) AS total, avg(qty) AS q FROM input GROUP BY region", False),
    ("agg_having", "SELECT cust_id, count(*) AS n FROM input GROUP BY cust_id HAVING count(*) > 12", False),
    ("agg_filter_clause", "SELECT region, count(*) FILTER (WHERE status = 'paid') AS paid, "
                          "count(*) FILTER (WHERE status = 'cancelled') AS cancelled FROM input GROUP BY ALL", False),
    ("agg_distinct", "SELECT count(DISTINCT cust_id) AS c, count(DISTINCT region) AS r FROM input", False),
    ("agg_minmax_arg", "SELECT region, min(amount) AS lo, max(amount) AS hi, arg_max(id, amount) AS top "
                       "FROM input WHERE region IS NOT NULL GROUP BY region", False),
    ("agg_string_agg", "SELECT region, string_agg(status, ',' ORDER BY id) AS s FROM input "
                       "WHERE id <= 40 GROUP BY region", False),
    ("agg_median_quantile", "SELECT region, median(qty) AS med, quantile_disc(qty, 0.9) AS p90 FROM input GROUP BY 1", False),
    ("agg_stats", "SELECT round(stddev_samp(price), 6) AS sd, round(var_pop(price), 6) AS v, "
                  "round(corr(price, qty), 6) AS c FROM input", False),
    ("agg_bool", "SELECT region, bool_and(qty > 0) AS all_pos, bool_or(qty > 18) AS any_big FROM input GROUP BY 1", False),
    ("agg_count_if", "SELECT count_if(note = '') AS empty_notes, count(note) AS notes, count(*) AS n FROM input", False),
    # --- windows and QUALIFY
    ("win_row_number", "SELECT id, region, row_number() OVER (PARTITION BY region ORDER BY amount DESC, id) AS rn "
                       "FROM input", False),
    ("win_running_sum", "SELECT id, sum(amount) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run "
                        "FROM input ORDER BY id", True),
    ("win_lag_lead", "SELECT id, cust_id, lag(amount) OVER w AS prev, lead(amount, 2) OVER w AS next2 FROM input "
                     "WINDOW w AS (PARTITION BY cust_id ORDER BY ts, id)", False),
    ("win_rank_dense", "SELECT id, rank() OVER (ORDER BY qty) AS r, dense_rank() OVER (ORDER BY qty) AS d FROM input", False),
    ("win_ntile_pct", "SELECT id, ntile(4) OVER (ORDER BY amount, id) AS quart, "
                      "round(percent_rank() OVER (ORDER BY amount, id), 6) AS pr FROM input", False),
    ("win_moving_avg", "SELECT id, avg(price) OVER (PARTITION BY region ORDER BY id ROWS BETWEEN 3 PRECEDING AND 3 FOLLOWING) AS ma "
                       "FROM input", False),
    ("win_share_of_total", "SELECT id, amount / sum(amount) OVER () AS share FROM input WHERE amount IS NOT NULL", False),
    ("win_first_value", "SELECT id, first_value(status) OVER (PARTITION BY cust_id ORDER BY ts, id) AS first_status FROM input", False),
    ("qualify_latest", "SELECT * FROM input QUALIFY row_number() OVER (PARTITION BY cust_id ORDER BY ts DESC, id) = 1", False),
    ("qualify_top3", "SELECT region, id, amount FROM input WHERE region IS NOT NULL "
                     "QUALIFY rank() OVER (PARTITION BY region ORDER BY amount DESC, id) <= 3", False),
    # --- CTEs, reused
    ("cte_reused", "WITH t AS (SELECT cust_id, sum(amount) AS s FROM input GROUP BY 1) "
                   "SELECT a.cust_id, a.s, (SELECT max(s) FROM t) AS top FROM t a WHERE a.s > (SELECT avg(s) FROM t)", False),
    ("cte_chain", "WITH a AS (SELECT * FROM input WHERE status <> 'cancelled'), b AS (SELECT region, count(*) AS n FROM a GROUP BY 1) "
                  "SELECT * FROM b WHERE n > 10", False),
    ("cte_materialized_selfjoin", "WITH t AS MATERIALIZED (SELECT id, cust_id, amount FROM input) "
                                  "SELECT x.id, y.id AS other FROM t x JOIN t y ON x.cust_id = y.cust_id AND y.id = x.id + 1", False),
    ("cte_recursive", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 20) "
                      "SELECT r.n, count(i.id) AS c FROM r LEFT JOIN input i ON i.qty = r.n GROUP BY r.n ORDER BY r.n", True),
    # --- self-joins, correlated and scalar subqueries, EXISTS
    ("self_join_next", "SELECT a.id, b.id AS next_id FROM input a JOIN input b ON b.id = a.id + 1", False),
    ("self_join_dedup", "SELECT a.* FROM input a LEFT JOIN input b ON a.cust_id = b.cust_id AND a.ts = b.ts AND b.id < a.id "
                        "WHERE b.id IS NULL", False),
    ("scalar_above_avg", "SELECT * FROM input WHERE amount > (SELECT avg(amount) FROM input)", False),
    ("correlated_max", "SELECT id, cust_id, amount FROM input o WHERE amount = (SELECT max(amount) FROM input i WHERE i.cust_id = o.cust_id)", False),
    ("correlated_count", "SELECT c.cust_id, (SELECT count(*) FROM orders o WHERE o.cust_id = c.cust_id) AS n FROM customers c", False),
    ("exists", "SELECT * FROM input o WHERE EXISTS (SELECT 1 FROM input i WHERE i.region = o.region AND i.amount > o.amount * 3)", False),
    ("not_exists", "SELECT c.* FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.cust_id = c.cust_id)", False),
    ("in_subquery", "SELECT * FROM events WHERE cust_id IN (SELECT cust_id FROM customers WHERE tier = 3)", False),
    ("not_in_with_nulls", "SELECT count(*) AS n FROM customers WHERE cust_id NOT IN (SELECT cust_id FROM orders)", False),
    ("any_all", "SELECT id FROM input WHERE qty > ALL (SELECT qty FROM input WHERE region = 'n' AND qty IS NOT NULL) ", False),
    # --- set operations
    ("union_all", "SELECT id FROM input UNION ALL SELECT id + 100000 FROM input", False),
    ("union_distinct", "SELECT cust_id FROM orders UNION SELECT cust_id FROM events", False),
    ("intersect", "SELECT cust_id FROM orders INTERSECT SELECT cust_id FROM events", False),
    ("except", "SELECT cust_id FROM customers EXCEPT SELECT cust_id FROM orders", False),
    ("except_all", "SELECT region FROM input EXCEPT ALL SELECT region FROM input WHERE qty > 5", False),
    ("union_by_name", "SELECT id, region FROM input UNION ALL BY NAME SELECT country AS region, cust_id AS id FROM customers", False),
    # --- PIVOT / UNPIVOT / UNNEST
    ("pivot_dynamic", "PIVOT (SELECT region, id % 3 AS k, amount FROM input) ON region USING sum(amount) GROUP BY k", False),
    ("pivot_in_list", "PIVOT (SELECT status, region, qty FROM input) ON status IN ('new', 'paid') USING sum(qty) GROUP BY region", False),
    ("unpivot", "UNPIVOT (SELECT id, qty, cust_id FROM input WHERE id < 50) ON qty, cust_id INTO NAME col VALUE val", False),
    ("unnest_tags", "SELECT id, unnest(tags) AS tag FROM input", False),
    ("unnest_count", "SELECT tag, count(*) AS n FROM (SELECT unnest(tags) AS tag FROM input) GROUP BY tag", False),
    ("list_functions", "SELECT id, len(tags) AS n, list_sort(tags) AS sorted, list_contains(tags, 'b') AS has_b FROM input", False),
    # --- GROUPING SETS / ROLLUP / CUBE
    ("grouping_sets", "SELECT region, status, count(*) AS n, grouping(region, status) AS g FROM input "
                      "GROUP BY GROUPING SETS ((region, status), (region), ())", False),
    ("rollup", "SELECT region, status, sum(qty) AS q FROM input GROUP BY ROLLUP (region, status)", False),
    ("cube", "SELECT region, status, count(*) AS n FROM input GROUP BY CUBE (region, status)", False),
    # --- dates, timestamps with time zones
    ("date_trunc_month", "SELECT date_trunc('month', day) AS m, count(*) AS n FROM input GROUP BY 1 ORDER BY 1", True),
    ("date_parts", "SELECT id, year(day) AS y, month(day) AS mo, dayofweek(day) AS dow, day + INTERVAL 10 DAY AS later FROM input", False),
    ("date_diff", "SELECT cust_id, date_diff('day', min(day), max(day)) AS days FROM input GROUP BY 1", False),
    ("tz_convert", "SELECT id, ts AT TIME ZONE 'America/New_York' AS ny, strftime(ts AT TIME ZONE 'Asia/Tokyo', '%Y-%m-%d %H') AS tokyo "
                   "FROM input", False),
    ("tz_bucket", "SELECT time_bucket(INTERVAL 6 HOUR, ts) AS b, count(*) AS n FROM input GROUP BY 1", False),
    ("epoch_diff", "SELECT cust_id, epoch(max(ts)) - epoch(min(ts)) AS secs FROM input GROUP BY 1", False),
    ("timestamp_filter", "SELECT count(*) AS n FROM input WHERE ts >= TIMESTAMPTZ '2024-03-01 00:00:00+00' "
                         "AND ts < TIMESTAMPTZ '2024-04-01 00:00:00+00'", False),
    ("events_per_day", "SELECT CAST(\"at\" AS DATE) AS d, kind, count(*) AS n FROM events GROUP BY ALL", False),
    # --- strings
    ("string_funcs", "SELECT id, upper(region) AS r, lower(status) AS s, length(note) AS l, "
                     "concat_ws('-', region, status) AS c, left(status, 3) AS p FROM input", False),
    ("string_like_regex", "SELECT id FROM input WHERE note LIKE '%é%' OR regexp_matches(status, '^sh')", False),
    ("string_split_replace", "SELECT cust_id, split_part(name, ' ', 1) AS first, replace(name, ' ', '_') AS u FROM customers", False),
    ("string_coalesce_nullif", "SELECT id, coalesce(region, 'none') AS r, nullif(note, '') AS n FROM input", False),
    # --- joins across named inputs and datasets
    ("join_customers", "SELECT o.id, c.name, c.country FROM orders o JOIN customers c USING (cust_id)", False),
    ("left_join_nulls", "SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON o.cust_id = c.cust_id WHERE c.name IS NULL", False),
    ("join_dataset", "SELECT p.category, count(*) AS n, sum(o.qty * p.price) AS revenue FROM input o "
                     "JOIN products p ON p.sku = o.id % 50 GROUP BY 1", False),
    ("join_three", "SELECT c.country, p.category, count(DISTINCT e.event_id) AS n FROM events e "
                   "JOIN customers c USING (cust_id) JOIN orders o USING (cust_id) JOIN products p ON p.sku = o.id % 50 "
                   "WHERE e.kind = 'click' GROUP BY ALL", False),
    ("full_outer", "SELECT c.cust_id AS c_id, o.cust_id AS o_id FROM customers c FULL OUTER JOIN "
                   "(SELECT DISTINCT cust_id FROM orders) o ON c.cust_id = o.cust_id", False),
    ("semi_anti", "SELECT * FROM customers SEMI JOIN events USING (cust_id) "
                  "UNION ALL SELECT * FROM customers ANTI JOIN events USING (cust_id)", False),
    ("asof_join", "SELECT e.event_id, o.id AS last_order FROM events e ASOF JOIN orders o "
                  "ON e.cust_id = o.cust_id AND e.at >= o.ts::TIMESTAMP", False),
    ("cross_join_range", "SELECT r.range AS k, count(*) AS n FROM range(3) r, input i WHERE i.qty % 3 = r.range GROUP BY 1", False),
    # --- NULL semantics
    ("null_compare", "SELECT count(*) FILTER (WHERE region = NULL) AS eq, count(*) FILTER (WHERE region IS NULL) AS is_null, "
                     "count(*) FILTER (WHERE region IS DISTINCT FROM 'n') AS distinct_n FROM input", False),
    ("null_aggregates", "SELECT sum(qty) AS s, count(qty) AS c, avg(qty) AS a, min(qty) AS lo FROM input WHERE qty IS NULL", False),
    ("null_group_key", "SELECT region, count(*) AS n FROM input GROUP BY region", False),
    ("null_order", "SELECT id, region FROM input WHERE id <= 60 ORDER BY region NULLS FIRST, id", True),
    # --- decimals and numbers
    ("decimal_sum", "SELECT region, sum(amount) AS s, sum(amount * qty) AS sq FROM input GROUP BY 1", False),
    ("decimal_round", "SELECT id, round(amount * 1.075, 2) AS with_tax, CAST(amount AS DECIMAL(18, 4)) / 3 AS third FROM input", False),
    ("integer_math", "SELECT id, qty // 3 AS q3, qty % 3 AS r3, CAST(qty AS DOUBLE) / 4 AS quarter FROM input", False),
    ("case_buckets", "SELECT CASE WHEN amount < 100 THEN 'small' WHEN amount < 500 THEN 'mid' ELSE 'big' END AS b, "
                     "count(*) AS n FROM input GROUP BY 1", False),
    # --- ordering and limits
    ("order_limit", "SELECT id, amount FROM input WHERE amount IS NOT NULL ORDER BY amount DESC, id LIMIT 25", True),
    ("order_offset", "SELECT id FROM input ORDER BY id LIMIT 10 OFFSET 100", True),
    ("distinct_on", "SELECT DISTINCT ON (cust_id) cust_id, id, amount FROM input ORDER BY cust_id, amount DESC, id", True),
    ("from_first", "FROM input SELECT id, qty WHERE qty > 15", False),
    ("select_exclude_replace", "SELECT * EXCLUDE (tags, note) REPLACE (upper(status) AS status) FROM input", False),
    ("columns_expr", "SELECT max(COLUMNS('^(qty|price)$')) FROM input", False),
    ("summarize_like", "SELECT count(*) AS n, count(DISTINCT status) AS statuses, min(day) AS first, max(day) AS last FROM input", False),
]
