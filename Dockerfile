# The pipeline's Airflow image: the official Airflow 3 image plus this project, installed from the
# project's lock (constraints.txt) so that the image gets exactly the versions the tests ran with.
FROM apache/airflow:3.3.2-python3.11

# The official image expects packages to be installed as the `airflow` user.
USER airflow
WORKDIR /opt/airflow/src

# Dependencies first, so that editing a DAG or a model does not reinstall the stack.
COPY --chown=airflow:0 pyproject.toml setup.cfg constraints.txt README.md ./
COPY --chown=airflow:0 plugins ./plugins
RUN mkdir -p build && pip install --no-cache-dir -c constraints.txt . \
 && rm -rf build

# The project folders are baked in so the image runs on its own; compose bind-mounts over them.
WORKDIR /opt/airflow
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 dbt_project ./dbt_project
COPY --chown=airflow:0 expectations ./expectations
COPY --chown=airflow:0 programs ./programs

# innovation_pipeline.warehouse and .settings find dbt_project/, programs/ etc. from here.
ENV PIPELINE_HOME=/opt/airflow \
    DBT_PROFILES_DIR=/opt/airflow/dbt_project \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False
