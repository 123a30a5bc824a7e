from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from conversations import limits
        from sharing.models import MessageFeedback
        from usage import budgets, rollup
        from usage.models import GroupBudget, UserBudget

        limits.use_budgets(budgets.budgets_for)
        # A budget read on the send path is cached; these are the changes that alter it.
        post_save.connect(budgets.forget_budgets, sender=GroupBudget)
        post_delete.connect(budgets.forget_budgets, sender=GroupBudget)
        post_save.connect(budgets.forget_budgets, sender=UserBudget)
        post_delete.connect(budgets.forget_budgets, sender=UserBudget)
        m2m_changed.connect(budgets.forget_budgets, sender=get_user_model().groups.through)
        # The dashboard's copy of each rating (deleted with it by its foreign key).
        post_save.connect(rollup.rating_saved, sender=MessageFeedback)
