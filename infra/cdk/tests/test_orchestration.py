"""Dagster on AWS: webserver and daemon on ECS Fargate in the VPC, runs as ECS tasks, storage in
PostgreSQL, no way in but ECS Exec; its role is the one the rehearsal runs Dagster with."""

from __future__ import annotations

from clickpipe_infra.repo import DAGSTER_YAML, dagster_image_requirements, write_dagster_image_context


def _containers(s) -> dict[str, dict]:
    return {c["Name"]: c for td in s.resources("AWS::ECS::TaskDefinition").values() for c in td["Properties"]["ContainerDefinitions"]}


def test_webserver_and_daemon_run_as_services_and_runs_as_tasks(default):
    services = default.resources("AWS::ECS::Service")
    assert len(services) == 2
    containers = _containers(default)
    assert set(containers) == {"webserver", "daemon", "run"}
    assert containers["webserver"]["Command"][0] == "dagster-webserver" and containers["daemon"]["Command"][:2] == ["dagster-daemon", "run"]
    exec_enabled = sorted(s["Properties"].get("EnableExecuteCommand", False) for s in services.values())
    assert exec_enabled == [False, True]  # the webserver only: the UI's way in


def test_every_dagster_task_acts_as_the_dagster_role_with_the_stacks_settings(default):
    role = {"Fn::GetAtt": [default.logical_id(default.stack.orchestration.role), "Arn"]}
    outputs = {k: v["Value"] for k, v in default.json["Outputs"].items()}
    secret = default.stack.database.secret_arn
    for td in default.resources("AWS::ECS::TaskDefinition").values():
        assert td["Properties"]["TaskRoleArn"] == role
        (c,) = td["Properties"]["ContainerDefinitions"]
        env = {e["Name"]: e["Value"] for e in c["Environment"]}
        assert env["CLICKPIPE_ENV"] == "aws" and env["CLICKPIPE_LAKE_BUCKET"] == outputs["ClickpipeLakeBucket"]
        assert env["CLICKPIPE_GLUE_JOB1"] == outputs["ClickpipeGlueJob1"] and env["DAGSTER_PG_HOST"] == outputs["ClickpipeRdsHost"]
        assert {s["Name"] for s in c["Secrets"]} == {"DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD"}
        assert all("password" not in k.lower() for k in env)
        # every process loads EcsRunLauncher (runs too): the run task definition is named by family
        assert env["DAGSTER_RUN_TASK_DEFINITION"] == default.stack.orchestration.run_task.family == "clickpipe-dagster-run"
        assert c["LogConfiguration"]["LogDriver"] == "awslogs"
    assert secret  # the secrets come from the RDS-managed secret


def test_instance_stores_runs_in_postgres_over_tls_and_launches_runs_on_ecs(tmp_path):
    lines = [line.strip() for line in DAGSTER_YAML.splitlines()]
    assert "postgres:" in lines and "sslmode: require" in lines
    assert "module: dagster_aws.ecs" in lines and "class: EcsRunLauncher" in lines and "class: QueuedRunCoordinator" in lines
    assert "task_definition: {env: DAGSTER_RUN_TASK_DEFINITION}" in lines
    context = write_dagster_image_context(tmp_path)
    dockerfile = (context / "Dockerfile").read_text()
    wheel = next(context.glob("clickpipe-*.whl"))
    assert wheel.name in dockerfile and all(r in dockerfile for r in dagster_image_requirements())
    assert dagster_image_requirements() == ["dagster-webserver==1.13.27", "dagster-postgres==0.29.27"]
    assert "USER 1000" in dockerfile and "chown -R 1000:1000 /opt/dagster/home" in dockerfile  # Dagster writes its home


def test_the_dagster_role_reads_glue_tables_but_never_writes_them(default):
    role = default.logical_id(default.stack.orchestration.role)
    actions = {a for pol in default.resources("AWS::IAM::Policy").values() if {"Ref": role} in pol["Properties"]["Roles"]
               for st in pol["Properties"]["PolicyDocument"]["Statement"] for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}  # fmt: skip
    assert {"glue:GetTable", "glue:StartJobRun", "logs:GetLogEvents", "athena:StartQueryExecution", "quicksight:CreateDataSet"} <= actions
    assert not {a for a in actions if a.startswith("glue:") and a.split(":")[1].startswith(("Create", "Update", "Delete"))}
