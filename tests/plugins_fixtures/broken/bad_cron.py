from botkit._plugin import Plugin

plugin = Plugin("badcron")


@plugin.job(cron="61 * * * *")
async def nope(ctx: object) -> None:
    return None
