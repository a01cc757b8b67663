# A first pipeline in Python: ingest a file, aggregate it with SQL, check the result, read it back.
import workbench as wb

wb.ingest("data/sales.csv", name="sales")  # -> Dataset(name, version, rows, schema, profile, …)

p = wb.Pipeline(
    source=wb.from_dataset("sales"),
    steps=[wb.sql("SELECT region, count(*) AS orders, sum(amount) AS revenue "
                  "FROM input GROUP BY region ORDER BY region")],
    checks=[wb.not_null("region"), wb.in_range("revenue", min=0)],
    sink=wb.dataset("sales_by_region"),
)
print(wb.preview(p, rows=10))  # runs in the kernel on the first rows, writes nothing

job = wb.submit(p)  # a Job: live progress in a notebook cell, plain lines elsewhere
job.wait()
print(job.status, job.result.rows)
print(wb.read("sales_by_region").collect())
