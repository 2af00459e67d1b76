"""The demo plugin's API routes, mounted under /api/v1/plugins/demo/."""

from ninja import Router, Schema

from absurd_core import registry

router = Router(tags=["plugin: demo"])


class DemoTask(Schema):
    name: str
    queue: str
    max_attempts: int


@router.get("/tasks", response=list[DemoTask], summary="List the demo plugin's tasks")
def list_demo_tasks(request):
    return [
        DemoTask(name=s.name, queue=s.queue, max_attempts=s.max_attempts)
        for s in registry
        if s.name.startswith("demo.")
    ]
