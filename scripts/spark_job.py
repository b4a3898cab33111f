"""Entry file for spark-submit (it needs a .py file): the riskscore command line, unchanged.

    spark-submit --master yarn … scripts/spark_job.py features --engine spark --data s3a://… --out s3a://…

The engine picks up the session spark-submit configured (master, executors, s3a settings).
"""

from riskscore.cli import main

if __name__ == "__main__":
    main()
