"""``ringvault login`` and ``ringvault logout``."""

from __future__ import annotations

from typing import Annotated

import typer

from ringvault.cli.common import EXIT_AUTH, echo, fail, options, run, stdin_is_tty
from ringvault.textsafe import printable


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)


def login(
    ctx: typer.Context,
    email: Annotated[
        str | None, typer.Option("--email", envvar="RINGVAULT_EMAIL", help="Ring account e-mail.", show_envvar=True)
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="RINGVAULT_PASSWORD",
            help="Ring password (prompted on a TTY).",
            show_envvar=True,
        ),
    ] = None,
    code: Annotated[
        str | None,
        typer.Option("--code", envvar="RINGVAULT_2FA_CODE", help="2FA code, for scripts.", show_envvar=True),
    ] = None,
) -> None:
    """Log in with e-mail, password and 2FA code; keep the refresh token (0600) for every later command."""
    opts = options(ctx)
    interactive = stdin_is_tty()
    if not email:
        if not interactive:
            fail("no e-mail given; pass --email or set RINGVAULT_EMAIL", code=EXIT_AUTH)
        email = typer.prompt("Ring e-mail")
    if not password:
        if not interactive:
            fail("no password given; pass --password or set RINGVAULT_PASSWORD", code=EXIT_AUTH)
        password = typer.prompt("Ring password", hide_input=True)
    store = opts.token_store()
    api_options = opts.api_options()

    async def do_login() -> str:
        from ringvault.cloud.auth import login as ring_login
        from ringvault.cloud.errors import TwoFactorRequiredError, WrongTwoFactorCodeError

        async def ask_code(challenge: TwoFactorRequiredError) -> str:
            if not interactive:
                raise challenge
            return str(typer.prompt(printable(challenge.prompt))).strip()

        current_code = code
        for attempt in range(3):
            try:
                token = await ring_login(
                    api_options, email, password, two_factor=ask_code, code=current_code, token_store=store
                )
            except WrongTwoFactorCodeError:
                if not interactive or attempt == 2:
                    raise
                echo("That code is wrong or expired.", err=True)
                current_code = str(typer.prompt("Verification code")).strip()
                continue
            return token.email or email
        raise AssertionError("unreachable")

    async def login_or_explain() -> str:
        from ringvault.cloud.errors import TwoFactorRequiredError

        try:
            return await do_login()
        except TwoFactorRequiredError as challenge:
            if challenge.tsv_state == "totp":
                where = "from your authenticator app"
            elif challenge.phone:
                where = f"sent to {challenge.phone} via {challenge.tsv_state}"
            else:
                where = "sent to you by Ring"
            fail(
                f"Ring needs a verification code ({where}); re-run with --code CODE or RINGVAULT_2FA_CODE",
                code=EXIT_AUTH,
            )

    who = run(login_or_explain(), debug=opts.debug)
    echo(f"Logged in as {who}. Login kept in {store.path} (mode 0600).")


def logout(ctx: typer.Context) -> None:
    """Forget the stored login (the hardware id is kept so Ring's Control Center shows one device)."""
    opts = options(ctx)
    store = opts.token_store()
    if store.delete():
        echo(f"Logged out; removed the login from {store.path}.")
    else:
        echo("Not logged in; nothing to do.")
