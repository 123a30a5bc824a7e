from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "catalogue"
    verbose_name = "Models and providers"

    def ready(self) -> None:
        from catalogue import fields  # noqa: F401 - registers the schema extension
