//! Users: impersonation (by email, by refresh token, as a guest) with the permission rules of
//! `schemas/instant.perms.ts` at work; finding users by email, id and refresh token; deleting a
//! user after deleting their posts and comments.
//!
//! `cargo run -p instant-examples --bin users`

use instant_admin::typed::Id;
use instant_admin::{AsUser, Error, Instant, UserRef};
// The derives below find the generated types through `crate::schema`.
use instant_examples::schema;
use instant_examples::schema::{comments, posts, profiles, Comments, Posts, Profiles};

/// A post as the listing shows it: the title and its comments' ids (a projection).
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "posts", schema = "schemas/instant.schema.ts")]
struct PostView {
    title: String,
    comments: Vec<CommentId>,
}

/// A comment's id.
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "comments", schema = "schemas/instant.schema.ts")]
struct CommentId {
    id: Id<Comments>,
}

/// A post's id.
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "posts", schema = "schemas/instant.schema.ts")]
struct PostId {
    id: Id<Posts>,
}

/// A profile with the ids of its posts and comments.
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "profiles", schema = "schemas/instant.schema.ts")]
struct ProfileData {
    id: Id<Profiles>,
    posts: Vec<PostId>,
    comments: Vec<CommentId>,
}
use instant_examples::{connect_and_announce, fail, now, run_tag, Result};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result {
    let conn = connect_and_announce()?;
    let db = conn.db();
    let tag = run_tag();
    let alice = format!("alice-{tag}@example.com");
    let bob = format!("bob-{tag}@example.com");

    seed(db, &tag, &alice, &bob).await?;
    println!("wrote 3 posts (one of them alice's draft) and 2 comments");

    // Users: a refresh token creates the user on first use.
    let signed_in = db.auth().create_token_for(alice.as_str()).await?;
    let alice_token = signed_in.refresh_token()?.to_owned();
    let alice_id = signed_in.user.id.clone();
    println!("created user {alice} (new: {})", signed_in.created);
    let bob_token = db.auth().create_token(bob.as_str()).await?;
    println!("created user {bob}");

    // Impersonation: the rules decide what each one sees.
    let as_alice = db.as_user(AsUser::Email(alice.clone()));
    print_titles(
        "as alice (by email)",
        &visible_posts(&as_alice, &tag).await?,
    );
    let as_bob = db.as_user(AsUser::Token(bob_token.clone()));
    print_titles(
        "as bob (by refresh token)",
        &visible_posts(&as_bob, &tag).await?,
    );
    let as_guest = db.as_user(AsUser::Guest);
    print_titles("as a guest", &visible_posts(&as_guest, &tag).await?);

    // Writes are checked too: posts.create needs a signed-in user.
    let attempt = as_guest
        .transact(posts::create(
            Id::<Posts>::new(),
            posts::New {
                title: format!("[{tag}] Spam"),
                body: "...".into(),
                published: true,
                created_at: now(),
            },
        ))
        .await;
    match attempt {
        Err(Error::PermissionDenied(_)) => {
            println!("a guest may not create a post: permission denied")
        }
        Err(e) => return Err(e.into()),
        Ok(_) => return Err(fail("the rules let a guest create a post")),
    }

    // Finding users.
    for (how, who) in [
        ("email", UserRef::Email(alice.clone())),
        ("id", UserRef::Id(alice_id.clone())),
        ("refresh token", UserRef::RefreshToken(alice_token.clone())),
    ] {
        match db.auth().get_user(who).await? {
            Some(u) => println!(
                "get_user by {how}: {} ({})",
                u.email.as_deref().unwrap_or("no email"),
                u.id
            ),
            None => return Err(fail(format!("no user found by {how}"))),
        }
    }

    // Deleting a user: their app data first (posts, then their comments), then the user.
    let removed = delete_profile_data(db, &alice).await?;
    println!(
        "deleted alice's {} posts and {} comments",
        removed.0, removed.1
    );
    match db.auth().delete_user(UserRef::Email(alice.clone())).await? {
        Some(u) => println!("deleted user {}", u.email.as_deref().unwrap_or(&u.id)),
        None => return Err(fail("alice was not there to delete")),
    }
    let gone = db.auth().get_user(UserRef::Email(alice.clone())).await?;
    println!(
        "get_user by email after delete: {}",
        if gone.is_none() {
            "none"
        } else {
            "still there"
        }
    );
    match db.auth().verify_token(&alice_token).await {
        Ok(_) => return Err(fail("alice's refresh token still works")),
        Err(e) => println!("alice's refresh token no longer works ({})", error_type(&e)),
    }
    print_titles("as bob, afterwards", &visible_posts(&as_bob, &tag).await?);

    if !conn.is_embedded() {
        delete_profile_data(db, &bob).await?;
        db.auth().delete_user(UserRef::Email(bob.clone())).await?;
        println!("removed this run's data from the server");
    }
    Ok(())
}

/// Two profiles; alice has a published post and a draft, bob a published post; each comments on
/// the other's post.
async fn seed(db: &Instant, tag: &str, alice: &str, bob: &str) -> Result {
    let (a, b): (Id<Profiles>, Id<Profiles>) = (Id::new(), Id::new());
    let (p1, p2, p3) = (Id::new(), Id::new(), Id::new());
    let (c1, c2) = (Id::new(), Id::new());
    let at = now();
    let post = |title: &str, published: bool, secs: i64| posts::New {
        title: format!("[{tag}] {title}"),
        body: format!("{title}, by the seed"),
        published,
        created_at: at + chrono::Duration::seconds(secs),
    };
    db.transact((
        (
            profiles::update(&a)
                .email(alice)
                .handle(format!("alice-{tag}")),
            profiles::update(&b).email(bob).handle(format!("bob-{tag}")),
            posts::create(&p1, post("Alice's first post", true, 0)),
            posts::create(&p2, post("Alice's draft", false, 1)),
            posts::create(&p3, post("Bob's post", true, 2)),
        ),
        (
            posts::link(&p1).author(&a),
            posts::link(&p2).author(&a),
            posts::link(&p3).author(&b),
            comments::update(&c1)
                .body("Great post, Alice")
                .created_at(at),
            comments::update(&c2).body("Thanks Bob").created_at(at),
            comments::link(&c1).post(&p1).author(&b),
            comments::link(&c2).post(&p3).author(&a),
        ),
    ))
    .await?;
    Ok(())
}

/// The posts of this run that the client may see, oldest first, with their comments.
async fn visible_posts(db: &Instant, tag: &str) -> Result<Vec<PostView>> {
    Ok(db
        .query(
            posts::query()
                .filter(posts::author.at(profiles::handle).like(format!("%-{tag}")))
                .order(posts::created_at.asc())
                .project::<PostView>(),
        )
        .await?)
}

fn print_titles(who: &str, rows: &[PostView]) {
    let titles: Vec<String> = rows
        .iter()
        .map(|p| {
            let title = p
                .title
                .split_once("] ")
                .map_or(p.title.as_str(), |(_, t)| t);
            format!("{title} ({} comments)", p.comments.len())
        })
        .collect();
    println!("{who}: {} posts: {}", rows.len(), titles.join(", "));
}

/// Deletes the posts (their comments go with them: `onDelete: "cascade"`) and the comments of
/// the profile with this email, then the profile; returns how many posts and comments.
async fn delete_profile_data(db: &Instant, email: &str) -> Result<(usize, usize)> {
    let rows: Vec<ProfileData> = db
        .query(
            profiles::query()
                .filter(profiles::email.eq(email))
                .project::<ProfileData>(),
        )
        .await?;
    let Some(p) = rows.into_iter().next() else {
        return Ok((0, 0));
    };
    let mut steps: Vec<instant_admin::Step> = Vec::new();
    steps.extend(p.posts.iter().map(|post| posts::delete(&post.id)));
    steps.extend(p.comments.iter().map(|c| comments::delete(&c.id)));
    steps.push(profiles::delete(&p.id));
    db.transact(steps).await?;
    Ok((p.posts.len(), p.comments.len()))
}

/// The server's error `type`, or the error's text when it has none.
fn error_type(e: &Error) -> String {
    e.error_type().map_or_else(|| e.to_string(), str::to_owned)
}
