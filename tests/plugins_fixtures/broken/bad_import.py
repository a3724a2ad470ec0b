import botkit_no_such_module_x  # noqa: F401
